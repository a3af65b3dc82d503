/*
 * commands.h - the harness's subcommands of the one `synthfm` binary
 * (harness/cmd_*.c). The factory's are in factory/sf_cli.h, the model's in
 * model/sam_cmd.h; harness/synthfm.c dispatches them all. A command
 * returns the process exit code: 0 ok, 1 failure, 2 usage or config error.
 */
#ifndef HX_COMMANDS_H
#define HX_COMMANDS_H

#ifdef __cplusplus
extern "C" {
#endif

/* `predict` as dispatched: --volume (SAM 2 on a 3-D volume,
 * harness/cmd_predict_volume.c) or one image (sam_cmd_predict). */
int hx_cmd_predict(int argc, char **argv);
int hx_cmd_ttest(int argc, char **argv);
int hx_cmd_eval(int argc, char **argv);
int hx_cmd_data(int argc, char **argv);
int hx_cmd_prompts(int argc, char **argv);
int hx_cmd_report(int argc, char **argv);
int hx_cmd_results(int argc, char **argv);

#ifdef __cplusplus
}
#endif
#endif
