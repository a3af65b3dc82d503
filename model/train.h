/*
 * train.h - the trainer of libsam: train a SAM-architecture model on
 * synthetic corpora (factory/sf.h corpus reading API) with clicks from the
 * shared prompt simulator (sf_prompts_simulate), as the SynthFM recipe.
 *
 * One step = one sample (batch 1): the sample comes from a permutation of
 * the training corpora drawn per epoch from the counter RNG keyed by the
 * run seed (no torch RNG for data order); one instance with area >=
 * min_area_frac * image area is picked uniformly (counter RNG); n_pos
 * (uniform in [n_pos_min, n_pos_max]) positive and n_neg negative clicks
 * come from sf_prompts_simulate with key sf_prompt_key(seed, "train",
 * sample index, step * 65536 + instance label); forward image encoder ->
 * prompt encoder -> mask decoder with ONE mask output (multimask off: the
 * token that single-click prediction without --multimask uses); the
 * low-res logits are upsampled to the original size exactly as prediction
 * does (Sam.postprocess_masks) and the soft Dice loss is taken against the
 * full-resolution instance mask; AdamW step; cosine decay of the LR from
 * `lr` to `lr_min` over all steps (after `warmup_steps` linear warm-up).
 *
 * On-the-fly mode (opts.on_the_fly = a factory config): step g trains on
 * factory sample g (sf_sample_generate, master seed `on_the_fly_seed`,
 * default the run seed), generated in memory, never stored: every step
 * sees a new image, images_per_epoch of them per epoch (required). A
 * sample without an eligible instance is replaced by sample g + k * total
 * (k = 1..7). The validation corpus must have another master seed (checked:
 * the same seed would redraw the validation samples), so the two seed
 * ranges never overlap. The resolved factory config is kept as
 * RUN/factory.yaml (what --resume uses); corpora(role 'on-the-fly').
 * The embedding cache does not apply (no image is seen twice).
 *
 * instances_per_step K (default 1, the recipe): the step decodes K
 * distinct instances of its image at once (one image-encoder pass, K
 * prompts with the same click counts; the loss is their mean), as SAM's
 * own training decodes many masks per image. Seeing several clicks on the
 * same image in one update is what teaches a from-scratch decoder that the
 * mask follows the click (cpu-tiny).
 * loss: dice (the recipe) or dice+bce (Dice plus a class-balanced binary
 * cross entropy: half its weight on the instance, half on the rest; it
 * keeps a gradient where the sigmoid saturates and has no trivial
 * all-on / all-off minimum), or dice+plain_bce (Dice plus BCE averaged
 * over all pixels, as MedSAM trains: false positives cost as much as
 * misses, so the mask's size follows the object's).
 *
 * Validation (each epoch): mean Dice of single-mask predictions with one
 * positive click (setting (1,0): the simulator's first positive) over the
 * instances with area >= min_area_frac of the --val corpus (at most
 * val_instances_per_image per image, the largest first, and at most
 * val_max_images images), run through the public predictor
 * (sam_model_set_image / sam_model_predict): the same path as `synthfm
 * predict`.
 *
 * Run directory RUN:
 *   config.yaml   the resolved training config
 *   model.yaml    the model config (synthfm predict --model-config)
 *   run.sqlite    run(key, value): status, config, device, ...;
 *                 corpora(role, dir, identity, n_samples);
 *                 steps(step, epoch, loss, lr, wall_s);
 *                 epochs(epoch, step, val_dice, n_val, train_loss, wall_s);
 *                 val_instances(epoch, sample, label, area, pred_area,
 *                 dice): each validation instance (one positive click)
 *   last.pth      weights after the last completed step (official keys)
 *   best.pth      weights of the best validation Dice so far
 *   state.pt      optimiser state (torch::save) + state.txt (step,
 *                 best, wall time): with last.pth, what --resume needs
 *   curve.png     the learning curve (sam_train_plot), after each epoch
 *   DONE          written last, only when every step ran and was saved.
 * A run is finished if and only if RUN/DONE exists (and run.status is
 * "done"); a crashed, failed or interrupted run has status "running",
 * "failed" or "interrupted" and no DONE, and can be resumed.
 * Everything is validated (config, corpora, --init checkpoint) before RUN
 * is created, so a bad input leaves no run directory at all.
 *
 * batch_size B: a step trains on data positions step * B + j (j < B;
 * with B = 1 the position is the step, as before batches): each sample's
 * loss / B is back-propagated, so the gradients add up to the batch
 * mean's; images_per_epoch must be a multiple of B (steps per epoch =
 * images_per_epoch / B).
 *
 * Data parallel (train_dist.h): with RANK/WORLD_SIZE (torchrun) or
 * SLURM_PROCID/SLURM_NTASKS in the environment, rank r computes the
 * slots j = r, r + world, ... of each step, the gradients are summed over
 * the ranks (c10d, bucketed) and every rank takes the same AdamW step;
 * validation items are split over the ranks and summed. Rank 0 alone
 * writes RUN. B must be >= the world size. Same B, any world size: the
 * same run up to the order of float sums (byte for byte with 2 ranks).
 *
 * Determinism: the data order, instance picks and clicks come from the
 * counter RNG only; initial weights from torch::manual_seed(seed). The
 * resume test runs with 1 libtorch thread; on CPU a resumed run is then
 * bit-identical to an uninterrupted one (same thread count, same bits).
 * Threads: OpenBLAS is set to 1 thread (its pool fights libtorch's
 * OpenMP pool). The CPU profile uses threads: 2 (11.2 steps/s on an idle
 * 2-core box); at 128 px each op is so small that libgomp's barriers cost
 * as much as the work, so on a shared or noisy 2-core VM threads: 1 is
 * steadier (measured: 1 thread 9.8-10.1 steps/s, 2 threads 5.5-10.9 from
 * run to run).
 */
#ifndef SAM_TRAIN_H
#define SAM_TRAIN_H

#include "sf_model.h"

#ifdef __cplusplus
extern "C" {
#endif

/* What the trainer reports after each step (and each validation). */
typedef struct sam_train_progress {
  long step; /* steps done, 1..total_steps */
  long total_steps;
  int epoch; /* 0-based epoch of the step */
  double loss; /* this step's loss; running mean in loss_avg */
  double loss_avg; /* mean over the last <= SAM_TRAIN_LOSS_WINDOW steps */
  double lr;
  double val_dice; /* last validation, NAN before the first */
  double best_val_dice; /* NAN before the first validation */
  double elapsed_s; /* wall time of this run, resumes included */
  double steps_per_s; /* in this process */
  int validated; /* 1: this call follows a validation */
} sam_train_progress;

/* Non-zero return: stop, save a resumable checkpoint, SF_ECANCEL. */
typedef int (*sam_train_progress_fn)(void* ctx, const sam_train_progress* p);

typedef struct sam_train_opts {
  const char* config; /* training YAML (schemas/train/); NULL on resume */
  const char* const* corpora; /* training corpus dirs (NULL on resume:
                                 the run's own) */
  int n_corpora;
  const char* on_the_fly; /* factory config (factory/sf.h YAML): draw the
                             training samples straight from the factory
                             instead of corpora (NULL: corpora; on resume:
                             the run's own) */
  const char* val_dir; /* validation corpus (NULL on resume) */
  const char* out_dir; /* RUN */
  int resume; /* 1: continue RUN exactly */
  const char* init; /* SAM checkpoint for encoder + prompt encoder;
                       overrides the config's `init` (NULL: config) */
  int device; /* SAM_DEVICE_*, or -1: the config's */
  int threads; /* CPU threads, <= 0: the config's / all cores */
  long stop_after_steps; /* > 0: stop (resumable, not finished) once
                            this many steps are done in total */
  double max_wall_s; /* > 0: stop (resumable) after a step once this
                        process has trained this many seconds */
  sam_train_progress_fn progress;
  void* progress_ctx;
  double dist_timeout_s; /* data parallel: how long a collective or the
                            rendezvous waits for the other ranks before
                            failing (<= 0: 300 s) */
} sam_train_opts;

typedef struct sam_train_result {
  long steps; /* total steps done (resumes included) */
  long total_steps;
  long steps_this_run; /* in this process */
  double wall_s; /* this process */
  double steps_per_s; /* this process */
  double best_val_dice; /* NAN if never validated */
  long best_step;
  double last_val_dice;
  long encoder_calls; /* image encoder forwards in this process */
  int finished; /* 1: DONE written */
  int rank, world_size; /* data parallel: this process's rank, of ... */
  double allreduce_s; /* seconds in collectives (this process) */
} sam_train_result;

/* Train (or resume) a run as described above. SF_ECONFIG for config
 * errors (file:line in err), SF_EFORMAT/SF_ECORRUPT/SF_EIO for bad
 * corpora or checkpoints, SF_EEXIST when RUN exists and resume is 0,
 * SF_ECANCEL when the progress callback asked to stop (a resumable
 * checkpoint was saved first). res may be NULL. */
int sam_train_run(const sam_train_opts* o, sam_train_result* res, sf_err* err);

/* sam_train_plot (the learning curve) is public: sf_model.h. */

/* Parse and validate a training config only (no files touched besides
 * reading it); SF_ECONFIG with position on error. */
int sam_train_config_check(const char* path, sf_err* err);

#ifdef __cplusplus
}
#endif
#endif /* SAM_TRAIN_H */
