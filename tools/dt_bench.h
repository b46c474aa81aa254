/*
 * dt_bench.h -- what the two halves of dt-bench share: dt_bench.c runs
 * one scenario and prints its JSON line; dt_bench_report.c renders a
 * file of such lines as a markdown table.
 */
#ifndef DT_BENCH_H
#define DT_BENCH_H

/* Prints the markdown report over the JSON lines in path to stdout, one
 * row per (scenario, size, server), ratios against the server labelled
 * baseline.  Returns 0, or 1 (reason on stderr) when path cannot be read
 * or memory runs out: the value is dt-bench's exit status. */
int bench_report(const char *path, const char *baseline);

#endif /* DT_BENCH_H */
