/*
 * sf_cli.h - the command-line kit of the one `synthfm` binary: the
 * subcommand table entry, the factory's subcommands, and what every thin
 * command file shares (--help detection, usage errors with exit code 2,
 * number parsing, the progress line).
 *
 * Not part of libsf: factory/cli.c is linked into the binary only (the
 * Makefile's CLI objects), and only command files (*\/cmd_*.c) and the
 * dispatcher see this header. Libraries never print; commands do.
 * Exit codes: 0 ok, 1 failure, 2 usage or config error.
 */
#ifndef SF_CLI_H
#define SF_CLI_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* One subcommand of the binary (the table is in harness/synthfm.c). */
typedef struct sf_command {
    const char *name;
    const char *summary;
    int (*run)(int argc, char **argv); /* argv[0] is the command name */
} sf_command;

/* The factory's subcommands (factory/cmd_generate.c, cmd_corpus.c). */
int sf_cmd_generate(int argc, char **argv);
int sf_cmd_verify(int argc, char **argv);
int sf_cmd_merge(int argc, char **argv);
int sf_cmd_export(int argc, char **argv);

/* True when argv[1..] has -h or --help. */
int sf_cli_wants_help(int argc, char **argv);

/*
 * A usage error of `synthfm CMD`: prints "synthfm CMD: MESSAGE" (printf
 * style) on stderr, then the synopsis and "(synthfm CMD --help for more)"
 * when synopsis is not NULL, else "(see synthfm CMD --help)". Returns 2,
 * the exit code of a usage error.
 */
int sf_cli_usage_error(const char *cmd, const char *synopsis, const char *fmt,
                       ...) __attribute__((format(printf, 3, 4)));

/*
 * Suggestions for misspelt names. sf_cli_edit_distance is the optimal
 * string alignment distance (insertions, deletions, substitutions and
 * swaps of neighbours each cost 1). sf_cli_nearest returns the name of
 * names[0..n) (NULL entries skipped) nearest to s when it is close enough
 * to be a slip (distance 1, or 2 for names of 6+ characters; never the
 * whole word), else NULL.
 */
size_t sf_cli_edit_distance(const char *a, const char *b);
const char *sf_cli_nearest(const char *s, const char *const *names, size_t n);

/*
 * The usage error for an option the command does not know, with a
 * suggestion: "unknown option '--cuont' (did you mean --count?)". The
 * candidates are the long options of opts (getopt_long's table; NULL when
 * the command parses by hand) and every "--word" of help (the command's
 * --help text; NULL for none). Returns 2, as sf_cli_usage_error.
 */
struct option;
int sf_cli_unknown_option(const char *cmd, const char *synopsis,
                          const char *arg, const struct option *opts,
                          const char *help);

/* A decimal unsigned integer: no sign, no empty string, no trailing
 * characters, no overflow. 0 and *v set, or -1 and *v unchanged. */
int sf_cli_parse_u64(const char *s, uint64_t *v);

/* Progress line on stderr when it is a terminal: at most once a second,
 * with rate and ETA. Pass sf_cli_progress_cb with a sf_cli_progress as
 * the library's sf_progress_fn and its context. */
typedef struct sf_cli_progress {
    const char *what; /* e.g. "samples" */
    double t0, last;
    int tty;
} sf_cli_progress;
void sf_cli_progress_init(sf_cli_progress *p, const char *what);
int sf_cli_progress_cb(void *ctx, size_t done, size_t total);
/* Clears the line (when one was drawn). */
void sf_cli_progress_end(sf_cli_progress *p);

#ifdef __cplusplus
}
#endif
#endif /* SF_CLI_H */
