// The floor for paced sends on this machine: one thread, 1 ns timer slack, sleeping in
// epoll_pwait2 until `margin` before each deadline and spinning on CLOCK_MONOTONIC to it, with
// no sockets and nothing else to do. How late it leaves is what the scheduler and the hypervisor
// impose on any pacer; bench/run.py's `pacing` section compares kperf-plan's send_lateness_p99
// with it in the same round.
//
//     pacer RATE_PER_S SECONDS [MARGIN_US]   ->   "p50_us p99_us p999_us max_us"
#define _GNU_SOURCE
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/epoll.h>
#include <sys/prctl.h>
#include <time.h>

static int64_t mono_ns(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (int64_t)t.tv_sec * 1000000000 + t.tv_nsec;
}

static int by_value(const void* a, const void* b) {
    int64_t x = *(const int64_t*)a, y = *(const int64_t*)b;
    return (x > y) - (x < y);
}

int main(int argc, char** argv) {
    if (argc < 3) {
        fprintf(stderr, "usage: pacer RATE_PER_S SECONDS [MARGIN_US]\n");
        return 2;
    }
    double rate = atof(argv[1]), seconds = atof(argv[2]);
    int64_t margin = (argc > 3 ? atoll(argv[3]) : 200) * 1000;
    if (rate <= 0 || seconds <= 0 || rate * seconds > 1e8) {
        fprintf(stderr, "pacer: rate and seconds must be positive (and rate x seconds <= 1e8)\n");
        return 2;
    }
    int64_t interval = (int64_t)(1e9 / rate);
    size_t n = (size_t)(rate * seconds);
    int64_t* late = malloc(n * sizeof *late);
    int ep = epoll_create1(0);
    if (!late || ep < 0 || prctl(PR_SET_TIMERSLACK, 1UL) != 0) {
        perror("pacer");
        return 1;
    }
    struct epoll_event ev[1];
    int64_t next = mono_ns() + interval;
    for (size_t i = 0; i < n; ++i, next += interval) {
        int64_t wait = next - margin - mono_ns();
        if (wait > 0) {
            struct timespec ts = {wait / 1000000000, wait % 1000000000};
            epoll_pwait2(ep, ev, 1, &ts, NULL);
        }
        int64_t t;
        while ((t = mono_ns()) < next) {
        }
        late[i] = t - next;
    }
    qsort(late, n, sizeof *late, by_value);
    printf("%.3f %.3f %.3f %.3f\n", late[n / 2] / 1e3, late[n * 99 / 100] / 1e3, late[n * 999 / 1000] / 1e3,
           late[n - 1] / 1e3);
    return 0;
}
