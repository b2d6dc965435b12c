/*
 * C shim for DPDK's `static inline` functions, which bindgen cannot bind.
 * Every function is prefixed `shim_` so its origin is obvious on the Rust
 * side. Only burst-level and slow-path calls belong here: per-packet field
 * access (data pointer, lengths) is done in Rust from the struct layout.
 */
#ifndef DPDK_SYS_SHIM_H
#define DPDK_SYS_SHIM_H

#include <stddef.h>
#include <stdint.h>

#include <rte_config.h>
#include <rte_errno.h>
#include <rte_log.h>
#include <rte_eal.h>
#include <rte_lcore.h>
#include <rte_launch.h>
#include <rte_cycles.h>
#include <rte_dev.h>
#include <rte_bus_vdev.h>
#include <rte_mempool.h>
#include <rte_mbuf.h>
#include <rte_ethdev.h>

/* ---- bursts ------------------------------------------------------------ */
uint16_t shim_rx_burst(uint16_t port_id, uint16_t queue_id,
		       struct rte_mbuf **rx_pkts, uint16_t nb_pkts);
uint16_t shim_tx_burst(uint16_t port_id, uint16_t queue_id,
		       struct rte_mbuf **tx_pkts, uint16_t nb_pkts);

/* ---- mbufs ------------------------------------------------------------- */
struct rte_mbuf *shim_pktmbuf_alloc(struct rte_mempool *mp);
int shim_pktmbuf_alloc_bulk(struct rte_mempool *mp, struct rte_mbuf **mbufs,
			    unsigned int count);
void shim_pktmbuf_free(struct rte_mbuf *m);
/* Multi-segment fallbacks; single-segment mbufs are handled in Rust. */
char *shim_pktmbuf_prepend(struct rte_mbuf *m, uint16_t len);
char *shim_pktmbuf_adj(struct rte_mbuf *m, uint16_t len);
char *shim_pktmbuf_append(struct rte_mbuf *m, uint16_t len);
int shim_pktmbuf_trim(struct rte_mbuf *m, uint16_t len);
int shim_pktmbuf_linearize(struct rte_mbuf *m);
int shim_pktmbuf_chain(struct rte_mbuf *head, struct rte_mbuf *tail);

/* ---- mempools ---------------------------------------------------------- */
int shim_mempool_full(const struct rte_mempool *mp);

/* ---- per-lcore state --------------------------------------------------- */
unsigned int shim_lcore_id(void);
int shim_errno(void);

/* ---- log capture (slow path: to put a driver's reason into an error) ---- */
/* Redirects DPDK's log into memory; -1 if a capture is already running. */
int shim_log_capture_begin(void);
/* Ends the capture, restores the log, echoes what was captured to stderr and
 * copies up to n - 1 bytes of it into out (NUL-terminated). Returns the
 * number of bytes captured. */
size_t shim_log_capture_end(char *out, size_t n);

/* ---- constants that are macros bindgen cannot evaluate ----------------- */
extern const uint64_t shim_ETH_RSS_IP;
extern const uint64_t shim_ETH_RSS_UDP;
extern const uint64_t shim_ETH_RSS_TCP;
extern const uint64_t shim_MBUF_F_RX_RSS_HASH;
extern const uint64_t shim_ETH_TX_OFFLOAD_MBUF_FAST_FREE;
extern const uint16_t shim_PKTMBUF_HEADROOM;
extern const uint16_t shim_MBUF_DEFAULT_BUF_SIZE;
extern const unsigned int shim_MAX_LCORE;
extern const uint16_t shim_MAX_ETHPORTS;

#endif
