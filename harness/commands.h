/*
 * commands.h - the subcommands of the one `synthfm` binary. Each library
 * owns its thin command files (factory/cmd_*.c, model/cmd_*.c,
 * harness/cmd_*.c); harness/synthfm.c dispatches. A command returns the
 * process exit code: 0 ok, 1 failure, 2 usage or config error.
 */
#ifndef SF_COMMANDS_H
#define SF_COMMANDS_H

#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct sf_command {
    const char *name;
    const char *summary;
    int (*run)(int argc, char **argv); /* argv[0] is the command name */
} sf_command;

int sf_cmd_generate(int argc, char **argv);
int sf_cmd_verify(int argc, char **argv);
int sf_cmd_merge(int argc, char **argv);
int sf_cmd_export(int argc, char **argv);
int sam_cmd_predict(int argc, char **argv);
/* `predict` as dispatched: --volume (SAM 2 on a 3-D volume,
 * harness/cmd_predict_volume.c) or one image (sam_cmd_predict). */
int hx_cmd_predict(int argc, char **argv);
int sam_cmd_train(int argc, char **argv);
int hx_cmd_ttest(int argc, char **argv);
int hx_cmd_eval(int argc, char **argv);
int hx_cmd_data(int argc, char **argv);
int hx_cmd_prompts(int argc, char **argv);
int hx_cmd_report(int argc, char **argv);

/* Shared CLI helpers (harness/cli.c). */
/* True when argv has -h or --help. */
int sf_cli_wants_help(int argc, char **argv);
/* Progress line on stderr when it is a terminal: at most once a second,
 * with rate and ETA. ctx is a sf_cli_progress. */
typedef struct sf_cli_progress {
    const char *what;  /* e.g. "samples" */
    double t0, last;
    int tty;
} sf_cli_progress;
void sf_cli_progress_init(sf_cli_progress *p, const char *what);
int sf_cli_progress_cb(void *ctx, size_t done, size_t total);
void sf_cli_progress_end(sf_cli_progress *p);

#ifdef __cplusplus
}
#endif
#endif
