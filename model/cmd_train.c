/*
 * cmd_train.c - `synthfm train`: parse options, call the trainer
 * (model/train.h), print progress, map the status to an exit code
 * (0 finished or stopped cleanly, 1 failure or interrupted, 2 usage or
 * config error).
 */
#include <arpa/inet.h>
#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "sam_cmd.h"
#include "sf.h"
#include "sf_cli.h"
#include "train.h"

#define MAX_CORPORA 64

static const char usage_text[] =
    "usage: synthfm train --config FILE --corpus DIR [--corpus DIR]...\n"
    "                     --val DIR --out RUN [--init CKPT]\n"
    "       synthfm train --config FILE --on-the-fly FACTORY_CONFIG\n"
    "                     --val DIR --out RUN [...]\n"
    "                     [--device cpu|cuda] [--threads N]\n"
    "       synthfm train --resume RUN\n"
    "\n"
    "Train a SAM-architecture model on synthetic corpora (schemas/train/:\n"
    "cpu-tiny.yaml for a CPU, synthfm.yaml for the method's recipe).\n"
    "RUN gets run.sqlite, config.yaml, model.yaml, last.pth, best.pth,\n"
    "state.pt and, once every step is done, DONE. A run without DONE is\n"
    "not finished; Ctrl-C saves a resumable state.\n"
    "\n"
    "options:\n"
    "  --config FILE      training config (YAML)\n"
    "  --corpus DIR       training corpus (repeatable)\n"
    "  --on-the-fly FILE  instead of corpora: draw images_per_epoch new\n"
    "                     samples per epoch from the factory with this\n"
    "                     config (master seed: on_the_fly_seed, default the\n"
    "                     run seed; must differ from the --val corpus's)\n"
    "  --val DIR          validation corpus (held out: another seed)\n"
    "  --out RUN          new run directory (must not exist)\n"
    "  --resume RUN       continue an unfinished run exactly\n"
    "  --init CKPT        SAM checkpoint for the image and prompt encoders\n"
    "                     (overrides the config's init)\n"
    "  --device cpu|cuda  (default: the config's)\n"
    "  --threads N        CPU threads (default: the config's, else all)\n"
    "  --stop-after N     stop (resumable) after N steps in total\n"
    "  --max-minutes M    stop (resumable) after M minutes of training in\n"
    "                     this process (best.pth: the last validation's best)\n"
    "  --nproc N          data parallel on this machine: start N ranks\n"
    "                     (loopback rendezvous; each splits every global\n"
    "                     batch of batch_size samples with the others)\n"
    "  --dist-timeout S   data parallel: a rank that died or hangs stops the\n"
    "                     others after S seconds (default 300)\n"
    "  -q, --quiet        no progress lines\n"
    "  -h, --help         this text\n"
    "\n"
    "Data parallel across machines: start one process per rank with\n"
    "torchrun's variables (RANK, WORLD_SIZE, LOCAL_RANK, MASTER_ADDR,\n"
    "MASTER_PORT) or under Slurm's srun (SLURM_PROCID, SLURM_NTASKS, ...);\n"
    "rank 0 alone writes RUN. SIGTERM and Ctrl-C stop every rank resumably.\n"
    "\n"
    "stderr: a line per epoch (validation Dice) and progress: redrawn every\n"
    "second on a terminal, else (a log file) a line every 30 s\n"
    "(SF_PROGRESS_S=seconds to change it), each with the step, the loss\n"
    "(the mean of the last 100 steps' losses: the learning curve's dark\n"
    "line), steps/s and the ETA. stdout: one JSON line with steps,\n"
    "steps_per_s, best_val_dice, ...\n";

static volatile sig_atomic_t g_stop;

static void on_sigint(int sig) {
  (void)sig;
  g_stop = 1;
}

/* Progress on stderr: on a terminal, one line redrawn every second; else
 * (a log file) one line every every_s seconds (SF_PROGRESS_S, default 30),
 * so a log never stays silent for long. Both and the epoch lines show the
 * one loss the trainer reports: the mean of the last <= 100 steps' losses
 * (train.h), as the learning curve's dark line and the demo's table. */
typedef struct progress_ctx {
  int tty, quiet, nproc;
  double last, every_s;
} progress_ctx;

/* "val Dice 0.1234" or, before the first validation, "val Dice not yet". */
static const char* dice_text(double d, char* buf, size_t n) {
  if (isnan(d))
    snprintf(buf, n, "val Dice not yet");
  else
    snprintf(buf, n, "val Dice %.4f", d);
  return buf;
}

static int on_progress(void* vctx, const sam_train_progress* p) {
  progress_ctx* c = vctx;
  char vd[64];
  if (p->validated && !c->quiet)
    fprintf(
        stderr,
        "%sepoch %d: step %ld/%ld  loss %.4f (mean of last 100 steps)  %s"
        "  (best %.4f)  %.0f s since the start\n",
        c->tty ? "\r\033[K" : "",
        p->epoch + 1,
        p->step,
        p->total_steps,
        p->loss_avg,
        dice_text(p->val_dice, vd, sizeof vd),
        p->best_val_dice,
        p->elapsed_s);
  double t = sf_clock_s();
  double every = c->tty ? 1.0 : c->every_s;
  if (!c->quiet &&
      (t - c->last >= every || (c->tty && p->step == p->total_steps))) {
    double eta = p->steps_per_s > 0
        ? (double)(p->total_steps - p->step) / p->steps_per_s
        : 0;
    fprintf(
        stderr,
        "%sstep %ld/%ld  loss %.4f (mean of last 100 steps)  %s  lr %.2e"
        "  %.2f steps/s  ETA %.0f s%s",
        c->tty ? "\r\033[K" : "",
        p->step,
        p->total_steps,
        p->loss_avg,
        dice_text(p->val_dice, vd, sizeof vd),
        p->lr,
        p->steps_per_s,
        eta,
        c->tty ? "" : "\n");
    c->last = t;
  }
  return g_stop ? 1 : 0;
}

/* Options into o, corpora (room for MAX_CORPORA: o->corpora) and pc: -1 to go
 * on, else the exit code (help printed: 0; a usage error printed: 2). */
static int parse_args(
    int argc,
    char** argv,
    sam_train_opts* o,
    const char** corpora,
    progress_ctx* pc) {
  static const struct option opts[] = {
      {"config", required_argument, 0, 'c'},
      {"corpus", required_argument, 0, 'C'},
      {"val", required_argument, 0, 'v'},
      {"on-the-fly", required_argument, 0, 'f'},
      {"out", required_argument, 0, 'o'},
      {"resume", required_argument, 0, 'r'},
      {"init", required_argument, 0, 'i'},
      {"device", required_argument, 0, 'd'},
      {"threads", required_argument, 0, 't'},
      {"stop-after", required_argument, 0, 's'},
      {"max-minutes", required_argument, 0, 'm'},
      {"nproc", required_argument, 0, 'n'},
      {"dist-timeout", required_argument, 0, 'T'},
      {"quiet", no_argument, 0, 'q'},
      {"help", no_argument, 0, 'h'},
      {0, 0, 0, 0}};
  const char* resume = NULL;
  int ch;
  optind = 1;
  opterr = 0;
  while ((ch = getopt_long(argc, argv, "qh", opts, NULL)) != -1) {
    char* end;
    switch (ch) {
      case 'c':
        o->config = optarg;
        break;
      case 'C':
        if (o->n_corpora >= MAX_CORPORA)
          return sf_cli_usage_error("train", NULL, "too many --corpus");
        corpora[o->n_corpora++] = optarg;
        break;
      case 'v':
        o->val_dir = optarg;
        break;
      case 'f':
        o->on_the_fly = optarg;
        break;
      case 'o':
        o->out_dir = optarg;
        break;
      case 'r':
        resume = optarg;
        break;
      case 'i':
        o->init = optarg;
        break;
      case 'd':
        if ((o->device = sam_device_parse(optarg)) < 0)
          return sf_cli_usage_error(
              "train", NULL, "--device: expected cpu or cuda, got %s", optarg);
        break;
      case 't':
        o->threads = (int)strtol(optarg, &end, 10);
        if (*end || o->threads < 1)
          return sf_cli_usage_error(
              "train", NULL, "--threads: expected a positive integer");
        break;
      case 'm':
        o->max_wall_s = 60.0 * strtod(optarg, &end);
        if (*end || !(o->max_wall_s > 0) || o->max_wall_s > 1e9)
          return sf_cli_usage_error(
              "train", NULL, "--max-minutes: expected a positive number");
        break;
      case 's':
        o->stop_after_steps = strtol(optarg, &end, 10);
        if (*end || o->stop_after_steps < 1)
          return sf_cli_usage_error(
              "train", NULL, "--stop-after: expected a positive integer");
        break;
      case 'n':
        pc->nproc = (int)strtol(optarg, &end, 10);
        if (*end || pc->nproc < 1 || pc->nproc > 256)
          return sf_cli_usage_error(
              "train", NULL, "--nproc: expected an integer in 1..256");
        break;
      case 'T':
        o->dist_timeout_s = strtod(optarg, &end);
        if (*end || !(o->dist_timeout_s > 0) || o->dist_timeout_s > 1e6)
          return sf_cli_usage_error(
              "train", NULL, "--dist-timeout: expected positive seconds");
        break;
      case 'q':
        pc->quiet = 1;
        break;
      case 'h':
        fputs(usage_text, stdout);
        return 0;
      default:
        return sf_cli_unknown_option(
            "train", NULL, argv[optind - 1], opts, NULL);
    }
  }
  if (optind < argc)
    return sf_cli_usage_error(
        "train", NULL, "unexpected argument %s", argv[optind]);
  if (resume) {
    if (o->config || o->n_corpora || o->on_the_fly || o->val_dir ||
        o->out_dir || o->init)
      return sf_cli_usage_error(
          "train",
          NULL,
          "--resume takes the run's own config and "
          "corpora; give no other inputs");
    o->out_dir = resume;
    o->resume = 1;
  } else if (
      !o->config || (!o->n_corpora && !o->on_the_fly) || !o->val_dir ||
      !o->out_dir) {
    return sf_cli_usage_error(
        "train",
        NULL,
        "--config, --corpus (or --on-the-fly), --val and --out are required");
  } else if (o->n_corpora && o->on_the_fly) {
    return sf_cli_usage_error(
        "train", NULL, "--corpus and --on-the-fly exclude each other");
  }
  return -1;
}

/* A free TCP port on the loopback (bound to port 0 and released: the
 * ranks' rendezvous takes it a moment later). 0 on failure. */
static int free_port(void) {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  struct sockaddr_in a;
  socklen_t n = sizeof a;
  memset(&a, 0, sizeof a);
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  int port = 0;
  if (fd >= 0 && !bind(fd, (struct sockaddr*)&a, sizeof a) &&
      !getsockname(fd, (struct sockaddr*)&a, &n))
    port = ntohs(a.sin_port);
  if (fd >= 0)
    close(fd);
  return port;
}

static volatile sig_atomic_t g_forward; /* a signal for the ranks */

static void on_forward(int sig) {
  g_forward = sig;
}

/* --nproc N: fork N ranks with torchrun's variables on the loopback and
 * wait for them. In a rank: returns -1 (go on training); in the parent:
 * the exit code (the first failing rank's, else 0). The parent forwards
 * SIGTERM to every rank (Ctrl-C reaches them through the terminal). */
static int spawn_ranks(int n) {
  if (getenv("RANK") || getenv("WORLD_SIZE") || getenv("SLURM_PROCID")) {
    fprintf(
        stderr,
        "synthfm train: --nproc starts its own ranks; unset RANK, "
        "WORLD_SIZE and SLURM_PROCID (or drop --nproc)\n");
    return 2;
  }
  int port = free_port();
  if (!port) {
    fprintf(
        stderr,
        "synthfm train: --nproc: no free loopback port: %s\n",
        strerror(errno));
    return 1;
  }
  pid_t pids[256];
  char v[32];
  fflush(NULL);
  for (int r = 0; r < n; r++) {
    pid_t p = fork();
    if (p < 0) {
      fprintf(stderr, "synthfm train: fork: %s\n", strerror(errno));
      for (int k = 0; k < r; k++)
        kill(pids[k], SIGTERM);
      return 1;
    }
    if (p == 0) {
      snprintf(v, sizeof v, "%d", r);
      setenv("RANK", v, 1);
      setenv("LOCAL_RANK", v, 1);
      snprintf(v, sizeof v, "%d", n);
      setenv("WORLD_SIZE", v, 1);
      snprintf(v, sizeof v, "%d", port);
      setenv("MASTER_PORT", v, 1);
      setenv("MASTER_ADDR", "127.0.0.1", 1);
      return -1;
    }
    pids[r] = p;
  }
  struct sigaction sa, old_term, old_int;
  memset(&sa, 0, sizeof sa);
  sa.sa_handler = on_forward;
  sigemptyset(&sa.sa_mask);
  sigaction(SIGTERM, &sa, &old_term);
  sigaction(SIGINT, &sa, &old_int);
  int code = 0, left = n;
  while (left > 0) {
    int st;
    pid_t p = waitpid(-1, &st, 0);
    if (p < 0 && errno == EINTR) {
      if (g_forward == SIGTERM)
        for (int r = 0; r < n; r++)
          kill(pids[r], SIGTERM);
      g_forward = 0; /* SIGINT: the ranks got it from the terminal */
      continue;
    }
    if (p < 0)
      break;
    left--;
    int r = 0;
    while (r < n && pids[r] != p)
      r++;
    int c = WIFEXITED(st) ? WEXITSTATUS(st) : 1;
    if (WIFSIGNALED(st))
      fprintf(
          stderr,
          "synthfm train: rank %d killed by signal %d\n",
          r,
          WTERMSIG(st));
    if (c && !code)
      code = c;
  }
  sigaction(SIGTERM, &old_term, NULL);
  sigaction(SIGINT, &old_int, NULL);
  return code;
}

int sam_cmd_train(int argc, char** argv) {
  const char* corpora[MAX_CORPORA];
  sam_train_opts o;
  memset(&o, 0, sizeof o);
  o.device = -1;
  o.corpora = corpora;
  progress_ctx pc = {isatty(2), 0, 0, sf_clock_s(), 30};
  const char* every = getenv("SF_PROGRESS_S");
  if (every && *every) {
    char* end;
    double s = strtod(every, &end);
    if (*end || !(s >= 0) || s > 1e6) {
      fprintf(
          stderr,
          "synthfm train: SF_PROGRESS_S must be seconds >= 0, got '%s'\n",
          every);
      return 2;
    }
    pc.every_s = s;
  }
  int code = parse_args(argc, argv, &o, corpora, &pc);
  if (code >= 0)
    return code;
  sf_err err;
  memset(&err, 0, sizeof err);
  if (o.config && sam_train_config_check(o.config, &err) != SF_OK) {
    char msg[1200];
    fprintf(stderr, "synthfm train: %s\n", sf_err_text(&err, msg, sizeof msg));
    return 2;
  }
  if (pc.nproc > 1 && (code = spawn_ranks(pc.nproc)) >= 0)
    return code;
  const char* rank_env = getenv("RANK");
  if (!rank_env)
    rank_env = getenv("SLURM_NTASKS") && atoi(getenv("SLURM_NTASKS")) > 1
        ? getenv("SLURM_PROCID")
        : NULL;
  int rank = rank_env ? atoi(rank_env) : 0;
  if (rank > 0) /* rank 0 alone shows progress and the summary */
    pc.quiet = 1;
  struct sigaction sa, old;
  memset(&sa, 0, sizeof sa);
  sa.sa_handler = on_sigint;
  sigemptyset(&sa.sa_mask);
  struct sigaction old_term;
  sigaction(SIGINT, &sa, &old);
  sigaction(SIGTERM, &sa, &old_term); /* Slurm's pre-emption signal */
  o.progress = on_progress;
  o.progress_ctx = &pc;
  sam_train_result r;
  int rc = sam_train_run(&o, &r, &err);
  sigaction(SIGINT, &old, NULL);
  sigaction(SIGTERM, &old_term, NULL);
  if (pc.tty && !pc.quiet)
    fputs("\r\033[K", stderr);
  if (rc != SF_OK && rc != SF_ECANCEL) {
    char msg[1200], who[32] = "";
    if (r.world_size > 1 && strncmp(err.msg, "rank ", 5))
      snprintf(who, sizeof who, "rank %d: ", r.rank);
    fprintf(
        stderr,
        "synthfm train: %s%s\n",
        who,
        sf_err_text(&err, msg, sizeof msg));
    return rc == SF_ECONFIG || rc == SF_EINVAL ? 2 : 1;
  }
  if (r.rank > 0)
    return rc == SF_ECANCEL ? 1 : 0;
  char best[64];
  if (isnan(r.best_val_dice) || r.best_step < 0)
    snprintf(best, sizeof best, "best val Dice not yet (no validation)");
  else
    snprintf(
        best,
        sizeof best,
        "best val Dice %.4f (step %ld)",
        r.best_val_dice,
        r.best_step);
  fprintf(
      stderr,
      "synthfm train: %s: step %ld/%ld, %.2f steps/s, %s%s\n",
      o.out_dir,
      r.steps,
      r.total_steps,
      r.steps_per_s,
      best,
      rc == SF_ECANCEL ? " - interrupted, resumable"
          : r.finished ? " - done"
                       : " - stopped, resumable");
  printf(
      "{\"run\": \"%s\", \"steps\": %ld, \"total_steps\": %ld, "
      "\"steps_per_s\": %.4f, \"best_val_dice\": %.6f, \"best_step\": "
      "%ld, \"last_val_dice\": %.6f, \"encoder_calls\": %ld, "
      "\"world_size\": %d, \"allreduce_s\": %.4f, \"finished\": %s}\n",
      o.out_dir,
      r.steps,
      r.total_steps,
      r.steps_per_s,
      isnan(r.best_val_dice) ? -1.0 : r.best_val_dice,
      r.best_step,
      isnan(r.last_val_dice) ? -1.0 : r.last_val_dice,
      r.encoder_calls,
      r.world_size,
      r.allreduce_s,
      r.finished ? "true" : "false");
  return rc == SF_ECANCEL ? 1 : 0;
}
