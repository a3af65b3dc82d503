/*
 * sam_cmd.h - the model's subcommands of the one `synthfm` binary
 * (model/cmd_predict.c, model/cmd_train.c), dispatched by harness/synthfm.c.
 * A command returns the process exit code: 0 ok, 1 failure, 2 usage or
 * config error.
 */
#ifndef SAM_CMD_H
#define SAM_CMD_H

#ifdef __cplusplus
extern "C" {
#endif

int sam_cmd_predict(int argc, char** argv);
int sam_cmd_train(int argc, char** argv);

#ifdef __cplusplus
}
#endif
#endif
