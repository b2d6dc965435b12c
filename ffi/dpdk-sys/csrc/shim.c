/* Out-of-line copies of DPDK's static inline functions; see shim.h. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "shim.h"

uint16_t shim_rx_burst(uint16_t port_id, uint16_t queue_id,
		       struct rte_mbuf **rx_pkts, uint16_t nb_pkts)
{
	return rte_eth_rx_burst(port_id, queue_id, rx_pkts, nb_pkts);
}

uint16_t shim_tx_burst(uint16_t port_id, uint16_t queue_id,
		       struct rte_mbuf **tx_pkts, uint16_t nb_pkts)
{
	return rte_eth_tx_burst(port_id, queue_id, tx_pkts, nb_pkts);
}

struct rte_mbuf *shim_pktmbuf_alloc(struct rte_mempool *mp)
{
	return rte_pktmbuf_alloc(mp);
}

int shim_pktmbuf_alloc_bulk(struct rte_mempool *mp, struct rte_mbuf **mbufs,
			    unsigned int count)
{
	return rte_pktmbuf_alloc_bulk(mp, mbufs, count);
}

void shim_pktmbuf_free(struct rte_mbuf *m)
{
	rte_pktmbuf_free(m);
}

char *shim_pktmbuf_prepend(struct rte_mbuf *m, uint16_t len)
{
	return rte_pktmbuf_prepend(m, len);
}

char *shim_pktmbuf_adj(struct rte_mbuf *m, uint16_t len)
{
	return rte_pktmbuf_adj(m, len);
}

char *shim_pktmbuf_append(struct rte_mbuf *m, uint16_t len)
{
	return rte_pktmbuf_append(m, len);
}

int shim_pktmbuf_trim(struct rte_mbuf *m, uint16_t len)
{
	return rte_pktmbuf_trim(m, len);
}

int shim_pktmbuf_linearize(struct rte_mbuf *m)
{
	return rte_pktmbuf_linearize(m);
}

int shim_pktmbuf_chain(struct rte_mbuf *head, struct rte_mbuf *tail)
{
	return rte_pktmbuf_chain(head, tail);
}

int shim_mempool_full(const struct rte_mempool *mp)
{
	return rte_mempool_full(mp);
}

unsigned int shim_lcore_id(void)
{
	return rte_lcore_id();
}

int shim_errno(void)
{
	return rte_errno;
}

static FILE *cap_file;
static char *cap_buf;
static size_t cap_len;

int shim_log_capture_begin(void)
{
	if (cap_file != NULL)
		return -1;
	cap_file = open_memstream(&cap_buf, &cap_len);
	if (cap_file == NULL)
		return -1;
	rte_openlog_stream(cap_file);
	return 0;
}

size_t shim_log_capture_end(char *out, size_t n)
{
	size_t len, c;

	if (cap_file == NULL)
		return 0;
	rte_openlog_stream(NULL);
	fflush(cap_file);
	len = cap_len;
	if (len > 0)
		fwrite(cap_buf, 1, len, stderr);
	if (n > 0) {
		c = len < n - 1 ? len : n - 1;
		if (c > 0)
			memcpy(out, cap_buf, c);
		out[c] = '\0';
	}
	fclose(cap_file);
	free(cap_buf);
	cap_file = NULL;
	cap_buf = NULL;
	cap_len = 0;
	return len;
}

const uint64_t shim_ETH_RSS_IP = RTE_ETH_RSS_IP;
const uint64_t shim_ETH_RSS_UDP = RTE_ETH_RSS_UDP;
const uint64_t shim_ETH_RSS_TCP = RTE_ETH_RSS_TCP;
const uint64_t shim_MBUF_F_RX_RSS_HASH = RTE_MBUF_F_RX_RSS_HASH;
const uint64_t shim_ETH_TX_OFFLOAD_MBUF_FAST_FREE = RTE_ETH_TX_OFFLOAD_MBUF_FAST_FREE;
const uint16_t shim_PKTMBUF_HEADROOM = RTE_PKTMBUF_HEADROOM;
const uint16_t shim_MBUF_DEFAULT_BUF_SIZE = RTE_MBUF_DEFAULT_BUF_SIZE;
const unsigned int shim_MAX_LCORE = RTE_MAX_LCORE;
const uint16_t shim_MAX_ETHPORTS = RTE_MAX_ETHPORTS;
