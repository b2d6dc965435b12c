// Machine hiccup meter: one thread pinned to a CPU reads the TSC in a tight
// loop for S seconds and reports the gaps between consecutive reads (what a
// poll-mode worker would see as a poll gap without doing any work).
#define _GNU_SOURCE
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <stdint.h>
#include <time.h>
#include <x86intrin.h>
static double now_s(void) { struct timespec t; clock_gettime(CLOCK_MONOTONIC, &t); return t.tv_sec + t.tv_nsec * 1e-9; }
int main(int argc, char **argv) {
    int cpu = argc > 1 ? atoi(argv[1]) : 1; double secs = argc > 2 ? atof(argv[2]) : 2.0;
    cpu_set_t set; CPU_ZERO(&set); CPU_SET(cpu, &set);
    if (sched_setaffinity(0, sizeof set, &set)) { perror("sched_setaffinity"); return 1; }
    double t0 = now_s(); uint64_t c0 = __rdtsc();
    while (now_s() - t0 < 0.1) {}
    double hz = (double)(__rdtsc() - c0) / (now_s() - t0);
    uint64_t end = __rdtsc() + (uint64_t)(secs * hz), last = __rdtsc(), max = 0, n5 = 0, n10 = 0, n100 = 0, n1000 = 0, loops = 0;
    for (;;) {
        uint64_t t = __rdtsc(), g = t - last; last = t; loops++;
        if (g > max) max = g;
        double us = g * 1e6 / hz;
        if (us > 5) n5++; if (us > 10) n10++; if (us > 100) n100++; if (us > 1000) n1000++;
        if (t > end) break;
    }
    printf("jitter cpu %d %.1f s: max gap %.1f us; gaps >5us %lu, >10us %lu, >100us %lu, >1ms %lu (%lu reads, tsc %.0f MHz)\n",
           cpu, secs, max * 1e6 / hz, n5, n10, n100, n1000, loops, hz / 1e6);
    return 0;
}
