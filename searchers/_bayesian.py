"""Bayesian optimisation: a surrogate model of the loss and an acquisition function.

The model backend is scikit-optimize's ``Optimizer`` (GP, RF, ET or GBRT
surrogates; EI, PI, LCB or the ``gp_hedge`` portfolio), wrapped by the small
:class:`_SkoptBackend` adapter below so that another backend can replace it
(scikit-optimize is archived). The searcher keeps no skopt object between
suggestions: each model suggestion rebuilds the optimizer from the searcher's
own data, which makes the state plain JSON and a restored searcher suggest
exactly what an uninterrupted one would.

Behaviour, in the order a study meets it:

* **Initial design.** The first ``n_initial_points`` suggestions (default:
  the model's dimension + 2, within [4, 10]; a choice of k > 2 values is k
  one-hot columns) are the points of a scrambled Sobol design
  seeded by the searcher's seed, so they cover the space instead of clumping;
  warm-start observations (``observe``) count toward them. The model also needs
  at least two finished results, so the design lasts longer while everything
  is still pending. ``n_suggested`` is part of the saved state, so the design
  continues, not restarts, after a restore.
* **Pending trials (constant liar).** Every pending trial is told to the model
  as if it had finished with the ``liar`` value (the best, mean or worst loss
  seen), so parallel trials spread out.
* **Never the same point twice.** When the acquisition's best is a point
  already suggested (common on integer and categorical spaces), the searcher
  takes the unseen candidate the model rates best: on a finite space of at
  most ``n_candidates`` configurations all unseen ones are scored, else
  ``n_candidates`` samples. A finite space is walked once: when every
  configuration has been suggested, the searcher returns ``Searcher.FINISHED``.
* **Candidates without L-BFGS.** On a space with a categorical parameter or
  conditions, the acquisition is minimised over ``n_candidates`` samples, not
  by L-BFGS. Half of them are neighbours of the 5 best results (SMAC's local
  search: unit coordinates moved by a Gaussian step of 0.02-0.2, a categorical
  redrawn with probability 1/d), and every candidate is scored with its
  inactive parameters at their placeholders, where the model will see it. Both
  measured at 16 evaluations one at a time, 20 seeds, mean best loss (before ->
  after; random, Optuna TPE): SVC-breast (conditional) 0.0390 -> 0.0390 (0.0395,
  0.0385); LR-breast (categorical) 0.0305 -> 0.0295 (0.0312, 0.0297); DT-breast
  (mixed) 0.0810 -> 0.0790 (0.0838, 0.0825). At 16 rounds of 8, 5 seeds:
  SVC-breast 0.0320 -> 0.0300, LR-breast 0.0169 -> 0.0179. Before the projection
  a linear-kernel candidate with gamma far from its placeholder looked
  unexplored however many linear kernels had been tried: one seed spent 4 of
  its 8 model suggestions on linear kernels, all the same loss. The projection
  alone measured 0.0409 on SVC-breast (20 seeds): the model then spent its
  suggestions on the poly branch's unexplored degrees instead. Genetic's 0.0350
  there is out of reach of every variant tried (20 seeds, with these
  candidates): ``xi`` 0.001 0.0397, ``xi`` 0.0001 with ``kappa`` 0.5 0.0397,
  EI alone 0.0389, 5 design points 0.0397, a local share of 0.8 0.0397, ET
  0.0385, RF 0.0390, the losses' log or ranks (Gaussian copula) 0.0395-0.0409.
* **Early results (BOHB's idea).** Under ASHA or Hyperband trials end at
  different iterations, and a loss after 1 epoch is not comparable with one
  after 9. The searcher keeps each trial's curve (``on_trial_result``) and fits
  the model at the highest iteration that at least ``n_initial_points`` trials
  reached, on their losses there (a pending trial that reported there counts as
  a result, not a lie). Without early stopping it learns from final results.
* **Failed trials.** Errors and NaN/inf results are dropped by the base class.
  With ``on_failure: penalize`` (default) the failed point is told to the model
  with the worst loss seen so far, steering it away from regions that crash;
  with ``ignore`` it is not told at all.
* **Which surrogate.** ``GP``, the default for every kind of space. Measured
  against ``RF``, ``ET`` and ``GBRT`` (the same searcher otherwise) on the six
  scikit-learn problems at 16 evaluations one at a time, 5 seeds
  (``benchmarks/results/bayesmark.md``, "Surrogates"): the GP has the best mean
  rank over the six (2.65; GBRT 2.87, RF 3.03, ET 3.05) and led on the
  continuous ElasticNet and the mixed decision tree. A tree model led on single
  problems (GBRT on the categorical LR, RF on the integer kNN, ET on the
  conditional SVC), one problem per class, which is no rule, and each fell far
  below random on another (RF on SVR, GBRT on SVC). They stay available, not
  defaults, and ``auto`` does not pick them.
* **Which acquisition.** ``gp_hedge`` (scikit-optimize's own default: a
  portfolio of EI, PI and LCB, chosen by their past gains). On Hartmann-6 at
  50 evaluations 2 in parallel it gave a median regret of 0.13 over 10 seeds
  (8 of 10 runs under 0.2) against 0.20 with EI alone (5 of 10); Branin and
  the scikit-learn problems did not get worse. Standardising the losses before
  the model (so that ``xi`` is relative) was measured too and lost on both
  test functions, so losses are modelled in their own units, as skopt does.
* **Warping** (``warping: logit``; default ``none``). Each real parameter's unit
  coordinate (of its log range for log-scaled ones), squeezed into [0.005, 0.995],
  is seen by the model through a logit: the regions by both bounds are stretched
  (a point 0.1% from a bound is as far from one 1% away as the middle is from
  28%), and the bounds stay reachable at the ends of the model's box. Measured
  (``benchmarks/results/searchers_regret.md``, "Input warping"; 50 evaluations,
  2 in parallel, 10 seeds), it loses on both kinds of problem, so it is not the
  default. Hartmann-6 (optimum
  inside): median regret 0.988 against 0.125; Rosenbrock-4 on [1, 3]^4 (optimum
  on a corner): 4.36 against 0.786, with more suggestions on bounds (38% against
  11%): stretched bound regions are a larger volume for the model to explore.
  The opposite warp (bound regions squeezed, u -> (1 - cos(pi u)) / 2) was also
  worse on Hartmann-6 (6 seeds, median about 0.3) and is not offered.
* **Tried on Hartmann-6 and not adopted** (50 evaluations 2 in parallel, 10
  seeds, median regret; the default gives 0.125): hyperparameters refit at every
  result 0.126, 5 L-BFGS starts 0.175, 12 design points (2 seeds: worse), EI/PI
  ``xi`` 0.001 0.127, a fixed small GP noise (1e-6) 0.126, 10% of the candidates
  drawn around the best results 0.129, the last 10% of the budget on the model's
  predicted minimum 0.125; a TuRBO-like local phase (in the last third of the
  budget every second suggestion, or in the last 30% every one, the EI-best of
  2,000 perturbations of the best result, each at a scale drawn in [0.01, 0.2]
  of the unit range) 0.136 and 0.126, and with a GP fitted afresh on the 20
  results nearest the best (TuRBO's local model) 0.134; the "mean" liar 0.306;
  ``xi`` 0.05 0.195. Many runs end near Hartmann-6's second minimum (-3.2032,
  regret 0.119) but not on it (0.122-0.150: the function is nearly flat along
  x5 there, 0.006 over 0.14 of the range, which neither the global GP nor a
  local one resolves in a few evaluations), so the median sits at that edge
  whatever these knobs do. The GP is skopt's own ``base_estimator="GP"``
  (``cook_estimator``: a constant times a Matern 5/2 kernel with one length
  scale per column, ``normalize_y``, fitted Gaussian noise), which is also what
  ``gp_minimize`` builds; kernel and ``normalize_y`` are therefore as skopt has them.
* **Shaped losses and local L-BFGS starts** (``y_transform: yeo-johnson``,
  ``local_share``; defaults ``none`` and 0 with L-BFGS). The first fits a
  Yeo-Johnson power transform to the results and standardises them before the
  model (HEBO's output transform); the second makes that share of the
  acquisition's candidates, from which L-BFGS starts, neighbours of the 5 best
  results. Hartmann-6, 50 evaluations 2 in parallel, seeds 0-9, median regret
  (2026-12-02, load 4-35: slow runs, the same regrets): default 0.231 (the
  last full run; 0.226 with a 14-point design), ``yeo-johnson`` 0.181, both
  0.157, the losses' ranks (Gaussian copula) 0.557. With both, 6 of 10 runs
  still end in Hartmann-6's second basin (0.121-0.141, near (0.40, 0.88, 0.79,
  0.57, 0.16, 0.04)), which no refinement takes below its 0.119, so the goal
  (0.12) is still missed: it needs more runs to find the global basin (with a
  14-point design as well: 0.130, 9 of 10 runs in the second basin). On
  Branin both together give 0.00120 (default 0.000292, goal 0.001). They are
  options, not defaults: Branin loses, on the test suite's conditional space
  they find the best branch in 30 evaluations on 3 of seeds 0-4 (the default on
  every one of 0-7), and the scikit-learn problems are not measured with them (``benchmarks/results/bayesmark.md``, "Hartmann-6 again").
* **A Thompson-sampling slot per batch** (``batch_explore: thompson``; default
  ``none``). Every second suggestion made while other trials are pending (in
  rounds of 2, the second of each round; with 8 at once, 4 of them) is not the
  acquisition's optimum but the best of 1,000 neighbours of the 5 best results
  (unit steps of 0.02-0.2) under one joint draw from the GP's posterior; the
  other suggestions, and every one made with nothing pending, are the
  acquisition's as before (gp_hedge's gains follow only its own picks). A
  posterior draw ranks the basins around the best results by how good they
  might be, not by how good they look, so a batch keeps one foot in a second
  basin. Measured at 50 evaluations 2 in parallel, median regret
  (``benchmarks/results/bayesmark.md``, "A Thompson-sampling slot"): Hartmann-6
  0.126 over 20 seeds against 0.231 (8 of 20 runs <= 0.12 against 3), Branin
  0.0000915 against 0.000377 and Rosenbrock-4 4.42 against 5.15 (20 seeds). Not
  the default: on the scikit-learn problems at batch 8 (3 seeds) it tied on 13
  of 18 runs, lost on 4 and won on 1. Tried
  the same day and worse on Hartmann-6 (10 seeds): the draw over half uniform
  candidates 0.136 (Rosenbrock-4 5.72), over uniform ones only 0.365, half around
  the 10 best results 0.178, a draw for every model suggestion 0.171; with the
  shaped losses, local starts and a 14-point design 0.130; an EI (xi 0) local
  phase over the last 20% as well 0.127 (Rosenbrock-4 6.48); the GP's length
  scales capped at 1 or 2 unit ranges (skopt: 100) 0.146 / 0.125, but 2 doubles
  Rosenbrock-4's regret (7.77).
* **A final exploitation phase** (``final_exploit``; default 0.2). In the last
  share of a known budget (``max_trials``) the acquisition's suggestions are the
  model's predicted minimum (LCB with kappa 0, so L-BFGS where the space allows)
  over neighbours of the 5 best results; ``batch_explore``'s draws go on. (That
  is ``final_model: global``; on real-valued spaces the default is now a local
  model, the next item. The figures in this item are the global model's.)
  Without a budget there is no phase. The default because it wins where the
  budget ends short of a minimum and ties elsewhere (the figures below; 0 is
  the behaviour before it, whose figures the older notes give). With
  ``batch_explore: thompson`` and 0.2, Hartmann-6 at 50 evaluations 2 in
  parallel (20 seeds) ends at a median regret of 0.123 against thompson's 0.126
  (9 of 20 runs <= 0.12 against 8; better on 16 of the 20 seeds: runs in either
  basin get closer to its minimum); Branin 0.000128 and Rosenbrock-4 3.44
  against thompson's 0.000113 and 3.42 (seeds 0-9). Still short of the goal
  (0.12): all but one run in the second basin stop at 0.123-0.155, above its floor of
  0.119, and only 8 of 20 find the global basin. Alone (0.2, no thompson):
  Hartmann-6 0.128 over 20 seeds against the default's 0.231 (6 of 20 runs <=
  0.12 against 3), Branin 0.000411 against 0.000292, Rosenbrock-4 4.31 against
  3.96 (seeds 0-9); at 16 evaluations one at a time on the six scikit-learn
  problems (10 seeds) the mean rank is unchanged (2.41: better on ElasticNet,
  DT-breast and SVC-breast, worse on LR-breast, 0.0265 -> 0.0280 mean best loss);
  at 16 rounds of 8 (seeds 0-2) the best loss is the same on 14 of 18 runs and
  better on 4 (ElasticNet once, SVR-diabetes three times, by at most 0.0004). (``benchmarks/results/bayesmark.md``, "A final
  exploitation phase".)
* **The final phase's model** (``final_model``; default ``local``). On a space
  with a real parameter and no categorical or condition (where L-BFGS runs),
  the final phase's suggestion is the minimum of the mean of a GP fitted afresh
  (its own hyperparameters) on the max(20, 5 d) results nearest the best,
  within a box around the best result whose half-width shrinks from 0.15 to
  0.03 unit ranges over the phase (TuRBO's trust region, shrunk by schedule);
  a suggestion made while others are pending takes LCB (``kappa``) in that box
  instead, a distinct neighbour rather than the lie's twin. ``global`` is the
  study's GP over the whole space (the behaviour before). Why: on Hartmann-6
  the global model's predicted minimum slid to bounds along its flat
  coordinates (x3 = 1, x5 = 0 in the second basin; x6 = 0, 0.04 from that
  minimum, on two seeds: regret 0.185), which the box stops. Measured at 50
  evaluations 2 in parallel (2026-12-02, this environment; ``benchmarks/results/bayesmark.md``,
  "The final phase's model"), global -> local: Hartmann-6 median regret 0.133
  -> 0.121 over 20 seeds (6 -> 9 runs <= 0.12; the goal, 0.12, still missed:
  three second-basin runs stop at 0.1210-0.1255, its floor is 0.1192),
  Rosenbrock-4 6.59 -> 3.14 (seeds 0-9, better on all ten), Branin 0.000335
  -> 0.000338 (seeds 0-9; better on 3, worse on 3); at 16 evaluations one at a
  time (10 seeds) SVR-diabetes better on 7 seeds and worse on 2 (mean best
  0.5101 -> 0.5092), ElasticNet worse on 4 by at most 0.00006 and better on 1;
  at 16 rounds of 8 (seeds 0-5) SVR better on 3, worse on 1, ElasticNet worse
  on 3 by at most 0.000002, better on 1, the rest the same.
  Per seed on Hartmann-6 it is better on 11 of 20 and worse on 9: it helps in
  the median, not everywhere. Integer-only spaces keep ``global`` (kNN-wine: 2
  seeds worse, 1 better: the box shrinks below the grid's step). Tried on
  Hartmann-6 (20 seeds, median; the chosen one 0.1211, 9 runs <= 0.12): a box
  of 0.3 -> 0.05 0.137 (4 runs); 0.08 -> 0.02 0.1204 (8 runs); 0.08 -> 0.01
  0.1211 (8 runs); the mean (not LCB) for the pending slot 0.124 (8 runs);
  half-widths scaled by the local GP's length scales, worse on seeds 1, 4 and 7
  (1.22, 0.90, 0.62 against 0.25, 0.39, 0.29; stopped); the 48 nearest results
  (all of them), stopped after seeds 0-5 (0.145, 0.120, 0.121, 0.0013, 0.434,
  0.129 against 0.188, 0.048, 0.129, 0.0071, 0.567, 0.126). None of those got
  the 10th and 11th runs under 0.12; five results per dimension did (the
  figures above are for 4 d: 24 on Hartmann-6). 4 d -> 5 d (2026-12-03,
  ``benchmarks/results/bayesmark.md``, "Five results per dimension";
  Hartmann-6 is the only benchmark space where max(20, 4 d) and max(20, 5 d)
  differ): median regret 0.1223 -> 0.1197 on seeds 0-19 (8 -> 12 runs <= 0.12),
  0.235 -> 0.0997 on seeds 20-39 (7 -> 10), better on 34 of the 40 seeds: with
  30 results the second basin's runs reach its floor (0.1192-0.1200 instead of
  0.1203-0.135). 26, 34 and 40 results: 0.1204, 0.1198, 0.1200 (seeds 0-19);
  30 on Branin and Rosenbrock-4 (not the rule: there it stays 20) 0.0004 ->
  0.0007 and 3.11 -> 4.06. On a quadratic with ample random data the
  global model converges faster (tests/searchers: the local one wins where the
  global one holds a flat coordinate on a bound).
* **A prior on the length scales** (``length_scale_prior: gamma``; the default
  on a conditional space since 2026-12-03, ``none`` elsewhere). The GP's kernel
  hyperparameters maximise the marginal likelihood plus a Gamma(3, 6) log prior
  on each length scale (unit ranges; mode 1/3, mean 1/2, BoTorch's SingleTaskGP
  prior before 0.12): a MAP fit. Without it, a few results let a length scale
  run to skopt's bounds. On SVC-breast after the 8 design points (seed 0) the
  kernel's one-hot columns and C sat at 100 (the model saw no difference between
  kernels) and ``degree`` at 0.011 (each degree unrelated to the others), so
  every unseen degree of the poly branch looked uncertain and 7 of the 8 model
  suggestions went there (losses 0.155-0.365); with the prior every scale was
  0.2-1 and the model refined the rbf branch first. Measured
  (``benchmarks/results/bayesmark.md``, "A prior on the length scales"), it is
  not the default on unconditional spaces: at 16 evaluations one at a time, 10
  seeds, mean best loss (none -> gamma) it wins on SVC-breast 0.0399 -> 0.0374
  (genetic 0.0345) and kNN-wine 0.2146 -> 0.2023 but loses on DT-breast, LR-breast,
  SVR-diabetes and ElasticNet (mean rank over the six 2.41 -> 2.52); at 50
  evaluations 2 in parallel, seeds 0-9, median regret Hartmann-6 0.231 -> 0.204,
  Branin 0.000292 -> 0.000205, but Rosenbrock-4 3.96 -> 12.2 (a smooth function
  wants scales the prior forbids); at 16 rounds of 8 on DT-breast (10 seeds) the
  mean best loss is 0.0575 -> 0.0550 (TPE 0.0570) but TPE still ranks first (it
  reaches 0.0501 on 8 of 10 seeds, the prior on 2). Tried with it the same day
  (10 seeds unless said):
  with ``batch_explore: thompson`` Hartmann-6 0.147 (thompson alone 0.136 on these
  seeds); with ``y_transform: yeo-johnson`` SVC-breast 0.0360; on the integer and
  categorical columns only, SVC-breast 0.0390; a LogNormal(sqrt 2 + log(d) / 2,
  sqrt 3) prior instead (Hvarfner et al. 2024) with thompson, Hartmann-6 seeds 0-6
  0.14-2.4 (median 0.80; stopped).
  On a conditional space it is the default: a parameter's column holds its
  placeholder in every row of the other branches, and maximum likelihood on a
  few results sends such scales to a bound (on the test suite's conditional space
  after 12 results, 5 of 8 scales at 0.01 or 100; with the prior all within
  0.3-0.6). Measured on the three conditional problems of the suite at 16
  evaluations one at a time, seeds 0-19, rank among bayesian, TPE, skopt,
  genetic and random (none -> gamma): SVC-breast 3.25 -> 2.50 (genetic 2.52),
  MLP-digits 2.67 -> 2.23, CASH-digits 2.45 -> 2.40; on the test suite's
  conditional space (seeds 0-29) the mean best is -0.844 -> -0.735, still first
  (2.37 -> 2.67; TPE 2.97, skopt 2.97); ``benchmarks/results/bayesmark.md``,
  "Three conditional problems".
* **Inactive parameters outside the box** (``inactive: outside``; default
  ``placeholder``). On a conditional space the GP's columns of a parameter
  inactive in a row hold -1 (the box is [0, 1]) instead of its placeholder (the
  middle of its range, ``Space.fill``): imputation by a constant outside the box
  (Swersky et al. 2014, Lévesque et al. 2017), so two rows where ``gamma`` is
  inactive agree on it and a linear kernel's row no longer sits at rbf's
  ``gamma`` = 0.01. Applied inside the GP's ``fit`` and ``predict``, so results,
  lies and candidates alike; candidates are still drawn and projected as above.
  Measured at 16 evaluations one at a time (``benchmarks/results/bayesmark.md``,
  "Inactive parameters outside the box"; 2026-12-03), not the default: SVC-breast
  mean best 0.0378 -> 0.0380 over seeds 0-29 (better on 6, worse on 7; rank among
  bayesian, TPE, skopt, genetic, random 3.22 -> 3.25; genetic 2.2), the test
  suite's conditional space -0.844 -> -0.909 (better on 18, worse on 11), but at
  40 evaluations (seeds 0-9) -1.369 -> -1.323 (better on 4, worse on 6). The
  constant -0.5 gave 0.0370 and -0.833, -2 0.0381; with ``length_scale_prior:
  gamma`` SVC-breast 0.0345 (the prior alone 0.0343) but the test suite's space
  -0.776 (the prior alone -0.735: 8 of 30 runs never reach the best branch).
* **A batch kept apart** (``batch_spread``; default 0.25 where the acquisition is
  sampled, 0 where L-BFGS runs). While trials are pending, the acquisition's
  candidates within ``batch_spread`` of the just-fitted GP's length scales
  (Euclidean, each model column divided by its scale) of a pending point are
  not scored. Why: on a piecewise-constant loss (a decision tree's) the GP
  fits a large noise, so a "min" lie hardly lowers the posterior's spread
  beside it and the acquisition keeps its argmin there: DT-breast at 16 rounds
  of 8, seed 0, one round's 7 suggestions had min_samples_leaf 0.011-0.015 and
  min_samples_split 0.043-0.056 (all 2 rows per leaf: one model, one loss);
  ``_NEAR`` (1e-3 unit ranges) only stops exact twins. Measured
  (``benchmarks/results/bayesmark.md``, "A batch kept apart"), DT-breast
  (mixed) at 16 rounds of 8, seeds 0-19, mean best loss (0 -> 0.25): 0.0570 ->
  0.0545 (TPE 0.0618), the 0.0501 level reached on 3 -> 12 seeds (TPE 12),
  better on 12 seeds, worse on 5; mean rank among bayesian, TPE, genetic and
  random 2.08 -> 1.75 (TPE 2.03 -> 2.15; seeds 0-9: 2.20 -> 1.75 against TPE's
  1.75 -> 1.90). 0.5: 0.0562 (6 seeds at 0.0501), 1.0: 0.0564 (seeds 0-9, 2).
  On seeds 0-2 alone it still ranks behind TPE (2.17 against 1.33). LR-breast
  at batch 8 (seeds 0-4) the same but seed 1 (0.0250 -> 0.0249), SVC-breast
  0.0300 on every seed either way. At batch 1 nothing is
  pending, so nothing changes; L-BFGS spaces (continuous, integer: the test
  functions) keep 0, unmeasured there. A cost: on the test suite's conditional
  space (smooth loss) at 16 rounds of 4, seeds 0-9, the mean best is the same
  (-1.4215 against -1.4211) but 9 of 10 seeds end worse (-1.24 to -1.49 against
  -1.485 to -1.4999): a batch kept apart refines a smooth minimum less closely.
  Off in the final phase: that space -1.4748, but DT-breast 0.0560 (0.0501 on 8
  of 20 seeds), so not taken. Also tried on DT-breast (10 seeds) and
  not kept: local candidates reflected at the bounds instead of clipped (49 of
  seed 0's 120 model suggestions had a coordinate exactly on a bound, 1 with
  reflection) 0.0561, with 0.5 0.0594.
* **Cost bound.** The model is fitted on at most ``max_model_points`` results
  (the best half and the most recent rest). The GP's kernel hyperparameters are
  optimised on at most 50 of those (chosen the same way), and only when the
  number of results has grown by 10% since the last optimisation (so at every
  result up to 10), starting from the previous optimum plus one random
  restart; between refits the stored hyperparameters
  are reused and fitting is one Cholesky factorisation.
"""
from __future__ import annotations

import functools
import math
import warnings
from typing import Any, Sequence

import numpy as np

from hpsearch.space import Categorical, Float, Int, Param, Space
from searchers._base import BaseSearcher

# L-BFGS runs on the acquisition, from the best of ``n_candidates`` samples. skopt
# uses 5; each costs ~100 model predictions in Python, so 2 halves a suggestion.
_LBFGS_STARTS = 2
# Kernel hyperparameters are optimised on at most this many results (best and recent).
_HYPER_POINTS = 50
# Without L-BFGS, this share of the acquisition's candidates are neighbours of the
# _LOCAL_STARTS best results, at a unit-coordinate step of one of _LOCAL_SCALES.
_LOCAL_SHARE = 0.5
_LOCAL_STARTS = 5
_LOCAL_SCALES = (0.02, 0.05, 0.1, 0.2)
# batch_explore: thompson draws the posterior jointly at this many neighbours of the best results.
_TS_POINTS = 1000
# batch_spread (default where the acquisition is sampled): while trials are pending, candidates
# within this many of the GP's length scales of a pending point are not scored.
_SPREAD = 0.25
# final_model: local. The GP is fitted on the max(this, 5 x dimension) results nearest the best; its
# mean is minimised in a box around the best whose half-width shrinks from _BOX[0] to _BOX[1].
_LOCAL_MODEL_POINTS = 20
_BOX = (0.15, 0.03)


class BayesianSearcher(BaseSearcher):
    """Sequential model-based search over a mixed space.

    >>> from hpsearch.space import Space
    >>> from searchers import create_searcher
    >>> s = create_searcher("bayesian", Space.from_spec({"x": {"uniform": [-1, 1]}}),
    ...                     metric="loss", mode="min", seed=0, n_initial_points=3)
    >>> for i in range(5):
    ...     s.on_trial_complete(str(i), {"loss": s.suggest(str(i))["x"] ** 2})
    """

    def __init__(self, *args: Any, **kwargs: Any):
        super().__init__(*args, **kwargs)
        o = self.opts  # checked against searchers/_options.py:Bayesian by create_searcher
        self.backend = _SkoptBackend(self.space, surrogate=o["surrogate"],
                                     acquisition=o["acquisition"], xi=float(o["xi"]),
                                     kappa=float(o["kappa"]), n_candidates=o["n_candidates"],
                                     warping=o["warping"], local_share=o["local_share"],
                                     length_scale_prior=o["length_scale_prior"],
                                     final_model=o["final_model"], inactive=o["inactive"],
                                     batch_spread=o["batch_spread"])
        self.batch_explore = o["batch_explore"]
        self.failed: list[dict] = []  # configs of failed trials, in order
        self.n_warm = 0  # warm-start observations, counted toward the random phase
        self.hyper: dict | None = None  # the GP's fitted hyperparameters, JSON-safe
        self.hedge: dict | None = None  # gp_hedge's gains and last candidates
        self.n_lies = 0  # pending points at the end of the last _model_data()
        # Learning curves (iteration -> loss) for early results (the BOHB idea):
        self.curves: dict[str, dict[int, float]] = {}  # of pending trials, by trial id
        self.finished_curves: list[tuple[dict, dict[int, float]]] = []  # of finished trials
        self.rung: int | None = None  # the iteration the last model was fitted at (None: final results)
        self.n_initial = (o["n_initial_points"] if o["n_initial_points"] is not None
                          else initial_design_size(self.backend.n_model_dims))

    # -- Ray Tune / base hooks -------------------------------------------------
    def on_trial_result(self, trial_id: str, result: dict) -> None:
        """Keep the trial's learning curve: the model may learn from early results."""
        if trial_id not in self.pending:
            return
        loss, it = self.loss(result.get(self.metric)), result.get("training_iteration")
        if loss is not None and isinstance(it, int):
            self.curves.setdefault(trial_id, {})[it] = loss

    def on_trial_complete(self, trial_id: str, result: dict | None = None, error: bool = False) -> None:
        config = self.pending.get(trial_id)
        n_before = len(self.observations)
        curve = self.curves.pop(trial_id, {})
        super().on_trial_complete(trial_id, result, error)
        if config is not None and len(self.observations) == n_before:
            self.failed.append(config)  # an error or a NaN/inf/missing metric
        elif config is not None:
            it = (result or {}).get("training_iteration")
            if isinstance(it, int):
                curve[it] = self.observations[-1][1]
            if curve:
                self.finished_curves.append((config, curve))

    def observe(self, config: dict, value: float) -> bool:
        told = super().observe(config, value)
        self.n_warm += told
        return told

    def _ask(self) -> dict:
        n_design = self.n_initial - self.n_warm
        if self.n_suggested < n_design or len(self.observations) < 2 or self.backend.n_dims == 0:
            return self.design_point(self.n_suggested)
        X, y = self._model_data()
        # Every second suggestion made while others are pending (in rounds of 2: the second of each).
        explore = self.batch_explore if self.pending and self.n_suggested % 2 else "none"
        progress = self._final_phase()
        if explore == "none" and progress is not None:
            explore = "exploit"
        point, hyper, hedge = self.backend.suggest(
            X, y, n_results=len(X) - self.n_lies, random_state=int(self.rng.integers(2**31 - 1)),
            hyper=self.hyper, refit=self._needs_refit(), hedge=self.hedge, explore=explore,
            progress=progress)
        if explore == "none":
            self.hedge = hedge  # gp_hedge's gains follow its own picks only
        if hyper is not self.hyper:
            self.hyper = {**hyper, "n_data": self._n_results()}
        config = self.backend.to_config(point)
        if self.space.key(config) in self.seen or self._near_pending(config):
            # Common on integer and categorical spaces: the acquisition's best is a
            # point already tried. Its next-best unseen candidate, not a random one.
            # Within a batch, a point a hair's breadth from a pending one (the
            # "min" liar invites it) is as wasted as a repeat.
            config = self._next_best_unseen(min(y))
        return config

    def _final_phase(self) -> float | None:
        """How far into the last ``final_exploit`` share of a known budget (``max_trials``) this
        suggestion is, in [0, 1); None before it or without a budget."""
        share, budget = self.opts["final_exploit"], self.max_trials
        if not share or budget is None:
            return None
        start = math.ceil((1 - share) * budget)
        if self.n_suggested < start:
            return None
        return min(1.0, (self.n_suggested - start) / max(1, budget - start))

    def _near_pending(self, config: dict) -> bool:
        """Closer than ``_NEAR`` in every unit coordinate to a pending configuration."""
        if not self.pending:
            return False
        u = np.array(_unit(self.space, config))
        return any(np.max(np.abs(u - _unit(self.space, c))) < _NEAR for c in self.pending.values())

    def _next_best_unseen(self, y_opt: float) -> dict:
        """The unseen candidate the last fitted model rates best.

        Candidates: every unseen configuration of a finite space of at most
        ``n_candidates`` configurations, else ``n_candidates`` seeded samples.
        """
        k = self.opts["n_candidates"]
        candidates = self.unseen_configs(limit=k)
        if candidates is None:
            candidates = [c for c in (self.space.sample(self.rng) for _ in range(k))
                          if self.space.key(c) not in self.seen and not self._near_pending(c)]
        if not candidates:
            return self.fresh_sample()
        scores = self.backend.score([self.backend.to_point(c) for c in candidates], y_opt)
        return candidates[int(np.argmin(scores))]

    # -- model data ---------------------------------------------------------------
    def _n_results(self) -> int:
        return len(self.observations) + len(self.failed) * (self.opts["on_failure"] == "penalize")

    def _needs_refit(self) -> bool:
        if self.hyper is None:
            return True
        at = self.hyper["n_data"]
        return self._n_results() - at >= max(1, math.ceil(0.1 * at))

    def _rung_pool(self) -> tuple[int | None, list[tuple[dict, float]]]:
        """The results the model learns from: (iteration, [(config, loss)]).

        When an early-stopping scheduler (ASHA, Hyperband) ended trials at
        different iterations, their final results are not comparable. As BOHB
        does, the model is then fitted at the highest iteration that at least
        ``n_initial_points`` trials reached (pending ones included), on each
        trial's loss at that iteration. Otherwise (every trial ran as long, or
        no iterations reported) on the final results, with warm-start ones.
        """
        curves = self.finished_curves + [(self.pending[t], c) for t, c in self.curves.items()
                                         if t in self.pending and c]
        ends = {max(c) for _, c in self.finished_curves}
        if len(ends) > 1:
            for it in sorted({i for _, c in curves for i in c}, reverse=True):
                pool = [(config, c[it]) for config, c in curves if it in c]
                if len(pool) >= self.n_initial:
                    return it, pool
        return None, list(self.observations)

    def _model_data(self) -> tuple[list[list], list[float]]:
        """Results (bounded), penalised failures and lied-about pending points, the losses
        as the model sees them (``y_transform``)."""
        self.rung, pool = self._rung_pool()
        losses = [loss for _, loss in pool]
        # A pending trial that reported at the model's rung is data, not a lie.
        reported = {self.space.key(c) for c, _ in pool} if self.rung is not None else set()
        if self.opts["on_failure"] == "penalize":
            pool += [(c, max(losses)) for c in self.failed]
        k = self.opts["max_model_points"]
        if len(pool) > k:
            # The best half keeps the model sharp where it matters; the most
            # recent rest keeps it honest about where it last looked.
            pool = [pool[i] for i in best_and_recent([loss for _, loss in pool], k)]
        lie = {"min": min, "max": max, "mean": lambda v: float(np.mean(v))}[self.opts["liar"]](losses)
        lied = [c for c in self.pending.values() if self.space.key(c) not in reported]
        self.n_lies = len(lied)
        pool += [(c, lie) for c in lied]
        y = transform_losses([float(v) for _, v in pool], len(pool) - self.n_lies, self.opts["y_transform"])
        return [self.backend.to_point(c) for c, _ in pool], y

    # -- state -----------------------------------------------------------------
    def _core_state(self) -> dict:
        return {"failed": self.failed, "n_warm": self.n_warm, "hyper": self.hyper,
                "hedge": self.hedge,
                "curves": {t: _str_keys(c) for t, c in self.curves.items()},
                "finished_curves": [[config, _str_keys(c)] for config, c in self.finished_curves]}

    def _set_core_state(self, state: dict) -> None:
        self.failed = list(state["failed"])
        self.seen |= {self.space.key(c) for c in self.failed}
        self.n_warm = int(state["n_warm"])
        self.hyper = state["hyper"]
        self.hedge = state["hedge"]
        # Absent from states saved before the model learned from early results.
        self.curves = {t: _int_keys(c) for t, c in state.get("curves", {}).items()}
        self.finished_curves = [(config, _int_keys(c)) for config, c in state.get("finished_curves", [])]


def _str_keys(curve: dict[int, float]) -> dict[str, float]:
    return {str(i): v for i, v in curve.items()}  # JSON object keys are strings


def _int_keys(curve: dict[str, float]) -> dict[int, float]:
    return {int(i): float(v) for i, v in curve.items()}


def transform_losses(y: list[float], n_results: int, how: str) -> list[float]:
    """The losses as the model sees them (``y_transform``); the first ``n_results`` are results.

    ``yeo-johnson``: a Yeo-Johnson power transform fitted to the results, then
    standardised (HEBO's output transform), applied to every row, lies included
    (it is monotone, so a "min" lie stays the minimum). Hartmann-6 is flat near
    0 with a few deep wells; as they are, the first wells found look like
    outliers to a stationary GP.
    """
    if how == "none" or n_results < 3:
        return y
    from sklearn.preprocessing import PowerTransformer

    v = np.asarray(y, dtype=float)
    if np.ptp(v[:n_results]) == 0:
        return y
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        pt = PowerTransformer(method="yeo-johnson", standardize=True).fit(v[:n_results, None])
        out = pt.transform(v[:, None])[:, 0]
    return [float(x) for x in out] if np.all(np.isfinite(out)) else y


def initial_design_size(n_dims: int) -> int:
    """Space-filling points before the model: dimension + 2, within [4, 10].

    The dimension is the model's: a categorical of more than two values counts
    one per value (the GP sees it one-hot, with a length scale per value).
    Ten for every space spent a fifth of a 50-evaluation budget on a 2-D
    problem (benchmarks/results/searchers_regret.md); a GP needs roughly d + 1
    points to fit one length scale per dimension. Counting one-hot columns was
    measured on the two spaces where it changes the size, at 16 evaluations one
    at a time (5 seeds): LR-breast (7 -> 9 points) mean best loss 0.0330 -> 0.0300
    (plain scikit-optimize 0.0280), SVC-breast (6 -> 8) 0.0390 either way.
    """
    return max(4, min(10, n_dims + 2))


class _SkoptBackend:
    """Everything that knows scikit-optimize: dimensions, fitting, acquisition.

    A point is a list with one entry per non-constant parameter: a float for
    Float, an int for Int, the value's index for Categorical (skopt would turn a
    mixed list such as ``[1, true, "a"]`` into numpy strings).
    """

    def __init__(self, space: Space, *, surrogate: str, acquisition: str, xi: float,
                 kappa: float, n_candidates: int, warping: str = "none",
                 local_share: float | None = None, length_scale_prior: str | None = None,
                 final_model: str = "local", inactive: str = "placeholder",
                 batch_spread: float | None = None):
        from skopt.space import Categorical as SkCategorical, Integer, Real

        self.space = space
        self.surrogate, self.acquisition = surrogate, acquisition
        self.acq_kwargs = {"xi": xi, "kappa": kappa}
        self.n_candidates = n_candidates
        # A prior on the length scales: by default only on a conditional space, where a column
        # holds its placeholder in every row of the other branches and, fitted by maximum
        # likelihood on a few results, its scale runs to a bound.
        self.length_scale_prior = (length_scale_prior if length_scale_prior is not None
                                   else "gamma" if space.conditional else "none")
        self.final_model = final_model
        self._last: tuple | None = None  # (skopt space, model) of the last fit; not state
        # A parameter with one possible value is constant: skopt cannot model it.
        self.fixed = {p.name: _only_value(p) for p in space.params if _only_value(p) is not _VARIES}
        self.free: list[Param] = [p for p in space.params if p.name not in self.fixed]
        self.dimensions = []
        # Reals the model sees through the logit of their unit coordinate (warping: logit).
        self.warped = {p.name for p in self.free if isinstance(p, Float)} if warping != "none" else set()
        self.warp, self.unwarp = _WARPS.get(warping, (None, None))
        # Each free parameter with its kind, for the conversions (run for every candidate):
        # "w" a warped real, "f" a real, "i" an integer, "c" a categorical (as an index).
        self._kinds = [(p, "w" if p.name in self.warped else "f" if isinstance(p, Float)
                        else "i" if isinstance(p, Int) else "c") for p in self.free]
        for p in self.free:
            if p.name in self.warped:
                self.dimensions.append(Real(self.warp(0.0), self.warp(1.0)))
            elif isinstance(p, Float):
                self.dimensions.append(Real(p.low, p.high, prior="log-uniform" if p.log else "uniform"))
            elif isinstance(p, Int):
                self.dimensions.append(Integer(p.low, p.high, prior="log-uniform" if p.log else "uniform"))
            else:
                self.dimensions.append(SkCategorical(list(range(len(p.values)))))
        self.n_dims = len(self.dimensions)
        # The GP's input columns: a categorical of more than two values is one-hot.
        widths = [len(d.categories) if isinstance(d, SkCategorical) and len(d.categories) > 2 else 1
                  for d in self.dimensions]
        self.n_model_dims = sum(widths)
        # inactive: outside. Each free parameter's model columns, for _encode_inactive.
        self.outside = inactive == "outside" and space.conditional
        starts = np.cumsum([0] + widths)
        self.columns = {p.name: slice(int(a), int(a + w)) for p, a, w in zip(self.free, starts, widths)}
        # L-BFGS on the acquisition needs gradients: GP over numeric dimensions only.
        # On a conditional space candidates are drawn and projected (_candidates), so no L-BFGS.
        numeric = not any(isinstance(p, Categorical) for p in self.free) and not space.conditional
        self.acq_optimizer = "lbfgs" if surrogate == "GP" and numeric else "sampling"
        # final_model: local needs L-BFGS and a real parameter: on integers alone the box
        # shrinks below the grid's step (kNN-wine, 16 evaluations: 2 of 10 seeds worse, 1 better).
        self.local_final = (final_model == "local" and self.acq_optimizer == "lbfgs"
                            and any(isinstance(p, Float) for p in self.free))
        # Candidates around the best results: half without L-BFGS (SMAC's local search);
        # with L-BFGS none by default (it refines the best candidates itself).
        self.local_share = (local_share if local_share is not None
                            else _LOCAL_SHARE if self.acq_optimizer == "sampling" else 0.0)
        # A batch kept apart in the GP's length scales: by default only where the acquisition is
        # sampled (L-BFGS would move a kept candidate back; not measured there).
        self.batch_spread = (0.0 if surrogate != "GP"
                             else batch_spread if batch_spread is not None
                             else _SPREAD if self.acq_optimizer == "sampling" else 0.0)

    # -- conversions ----------------------------------------------------------------
    def to_point(self, config: dict) -> list:
        config = self.space.fill(config)  # an inactive parameter has a placeholder value
        return [p.index(config[p.name]) if kind == "c"
                else self.warp(p.to_unit(config[p.name])) if kind == "w"
                else config[p.name] for p, kind in self._kinds]

    def to_config(self, point: Sequence) -> dict:
        config = dict(self.fixed)
        for (p, kind), v in zip(self._kinds, point):
            if kind == "w":
                config[p.name] = p.from_unit(self.unwarp(float(v)))
            elif kind == "f":
                config[p.name] = min(p.high, max(p.low, float(v)))
            elif kind == "i":
                config[p.name] = min(p.high, max(p.low, int(round(float(v)))))
            else:
                config[p.name] = p.values[int(v)]
        return self.space.prune(config)

    # -- one suggestion ---------------------------------------------------------------
    def suggest(self, X: list[list], y: list[float], *, n_results: int, random_state: int,
                hyper: dict | None, refit: bool, hedge: dict | None,
                explore: str = "none",
                progress: float | None = None) -> tuple[list, dict | None, dict | None]:
        """Fit on (X, y) and return the acquisition's argmin, plus updated state.

        ``hyper`` holds the GP kernel hyperparameters of an earlier fit: reused
        as they are, or with ``refit`` the start of a new optimisation whose
        result is returned in place of ``hyper``. The first ``n_results`` rows
        are real results, the rest pending points told with a lie. ``hedge`` carries gp_hedge's gains and last
        candidates across suggestions, exactly as one long-lived skopt
        Optimizer would. ``progress`` (0 -> 1) is how far into the final phase an
        ``exploit`` suggestion is (``final_model: local`` shrinks its box by it).
        """
        from skopt import Optimizer
        from threadpoolctl import threadpool_limits

        # The matrices are small (at most a few hundred rows): BLAS threads only
        # spin, and L-BFGS on the kernel hyperparameters ran 5-15x slower with them.
        with threadpool_limits(1):
            if self.surrogate == "GP" and (refit or hyper is None) and n_results > _HYPER_POINTS:
                # Optimising the marginal likelihood is the cost driver (cubic, many
                # L-BFGS steps): do it on a subset, then fit all data with the result.
                keep = best_and_recent(y[:n_results], _HYPER_POINTS)
                hyper = self._fit_hyper([X[i] for i in keep], [y[i] for i in keep],
                                        random_state, hyper)
                refit = False
            if explore == "exploit" and self.local_final:
                return self._local_minimum(X, y, n_results, random_state, progress or 0.0), hyper, hedge
            return self._suggest(Optimizer, X, y, random_state, hyper, refit, hedge, n_results, explore)

    def _fit_hyper(self, X: list[list], y: list[float], random_state: int, hyper: dict | None) -> dict:
        gp = self._estimator(random_state, hyper, refit=True)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            gp.fit(self.unit_space.transform(X), y)
        return {"theta": gp.kernel_.k1.theta.tolist(), "noise": float(gp.noise_)}

    def _suggest(self, Optimizer: type, X: list[list], y: list[float], random_state: int,
                 hyper: dict | None, refit: bool, hedge: dict | None,
                 n_results: int, explore: str = "none") -> tuple[list, dict | None, dict | None]:
        estimator = self._estimator(random_state, hyper, refit)
        # final_exploit: the posterior mean (LCB with kappa 0) over neighbours of the best results.
        exploit = explore == "exploit"
        acq_kwargs = {**self.acq_kwargs, "kappa": 0.0} if exploit else self.acq_kwargs
        opt = Optimizer(self.dimensions, base_estimator=estimator, n_initial_points=0,
                        acq_func="LCB" if exploit else self.acquisition,
                        acq_optimizer=self.acq_optimizer, acq_func_kwargs=acq_kwargs,
                        random_state=random_state,
                        acq_optimizer_kwargs={"n_points": self.n_candidates,
                                              "n_restarts_optimizer": _LBFGS_STARTS})
        # A thompson draw and the final phase look only among neighbours of the best results.
        share = 1.0 if explore in ("thompson", "exploit") else self.local_share
        spread = self.batch_spread if n_results < len(X) else 0.0
        if share or spread or self.acq_optimizer == "sampling":
            opt.space.rvs = self._candidates(opt.space.rvs, X, y, n_results, random_state, share,
                                             spread=(spread, opt) if spread else None)
        if explore == "thompson":
            # The acquisition is not optimised (L-BFGS would be wasted): the posterior draw
            # replaces it.
            opt.acq_optimizer = "sampling"
        if self.acquisition == "gp_hedge" and hedge is not None:
            opt.gains_ = np.array(hedge["gains"], dtype=float)
            opt.next_xs_ = [np.array(x, dtype=float) for x in hedge["next_xs"]]
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # "evaluated at this point before": we dedupe ourselves
            opt.tell(X, y)
        model = opt.models[-1]
        self._last = (opt.space, model)
        if self.surrogate == "GP" and (refit or hyper is None):
            hyper = {"theta": model.kernel_.k1.theta.tolist(), "noise": float(model.noise_)}
        if explore == "thompson":
            return self._thompson(opt.space, model, random_state), hyper, hedge
        if self.acquisition == "gp_hedge" and not exploit:
            hedge = {"gains": opt.gains_.tolist(), "next_xs": [np.asarray(x, dtype=float).tolist()
                                                               for x in opt.next_xs_]}
        return list(opt._next_x), hyper, hedge

    def _local_minimum(self, X: list[list], y: list[float], n_results: int, random_state: int,
                       progress: float) -> list:
        """The final phase's suggestion on a numeric space (``final_model: local``).

        TuRBO's trust region, made to converge: a GP fitted afresh (its own
        hyperparameters) on the ``max(20, 5 d)`` rows nearest the best result
        (pending points with their lie included), its posterior mean minimised
        by L-BFGS-B from the best of ``n_candidates`` uniform points in a box
        around the best result, whose half-width shrinks geometrically from
        ``_BOX[0]`` to ``_BOX[1]`` unit ranges as the phase goes (``progress``
        0 -> 1). With trials pending the criterion is LCB (``kappa``): a
        batch's later points are distinct neighbours, not the lie's twins. A
        point within ``_NEAR`` of a result or a pending point is passed over for
        the next best.
        """
        from scipy.optimize import minimize

        space = self.unit_space
        Z = np.asarray(space.transform(X), dtype=float)
        v = np.asarray(y, dtype=float)
        best = Z[int(np.argmin(v[:n_results]))]
        d = Z.shape[1]
        near = np.argsort(np.linalg.norm(Z - best, axis=1), kind="stable")[:max(_LOCAL_MODEL_POINTS, 5 * d)]
        gp = self._estimator(random_state, None, refit=True)
        gp.set_params(n_restarts_optimizer=2)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            gp.fit(Z[near], v[near])
        self._last = (space, gp)
        half = _BOX[0] * (_BOX[1] / _BOX[0]) ** progress
        lo, hi = np.clip(best - half, 0, 1), np.clip(best + half, 0, 1)
        gen = np.random.default_rng(random_state)
        C = np.vstack([best, lo + (hi - lo) * gen.random((self.n_candidates, d))])
        kappa = self.acq_kwargs["kappa"] if n_results < len(Z) else 0.0

        def criterion(z: np.ndarray) -> tuple[float, np.ndarray]:
            if not kappa:
                m, dm = gp.predict(z[None], return_mean_grad=True)
                return float(m[0]), np.ravel(dm)
            m, sd, dm, dsd = gp.predict(z[None], return_std=True, return_mean_grad=True, return_std_grad=True)
            return float(m[0] - kappa * sd[0]), np.ravel(dm) - kappa * np.ravel(dsd)

        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            m, sd = gp.predict(C, return_std=True)
            score = m - kappa * sd
            ranked = [C[i] for i in np.argsort(score, kind="stable")]
            found = []
            for z0 in ranked[:_LBFGS_STARTS]:
                r = minimize(criterion, z0, jac=True, method="L-BFGS-B", bounds=list(zip(lo, hi)))
                found.append((float(r.fun), np.clip(r.x, lo, hi)))
        ranked = [z for _, z in sorted(found, key=lambda t: t[0])] + ranked
        z = next((z for z in ranked if np.min(np.max(np.abs(Z - z), axis=1)) >= 2 * _NEAR), ranked[0])
        return list(space.inverse_transform(z[None])[0])

    def _thompson(self, space, model, random_state: int) -> list:
        """The best of ``_TS_POINTS`` candidates (``opt.space.rvs``: neighbours of the best
        results) under one joint draw from the model's posterior (Thompson sampling)."""
        gen = np.random.default_rng(random_state)
        points = space.rvs(n_samples=_TS_POINTS, random_state=random_state)
        C = np.asarray(space.transform(points), dtype=float)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            mean, cov = model.predict(C, return_cov=True)
        cov[np.diag_indices_from(cov)] += 1e-9 * max(1.0, float(np.max(np.diag(cov))))
        try:
            L = np.linalg.cholesky(cov)
        except np.linalg.LinAlgError:
            w, V = np.linalg.eigh(cov)
            L = V * np.sqrt(np.clip(w, 0, None))
        draw = mean + L @ gen.standard_normal(len(C))
        return list(points[int(np.argmin(draw))])

    def _candidates(self, draw, X: list[list], y: list[float], n_results: int, random_state: int,
                    share: float | None = None, spread: tuple | None = None):
        """skopt's candidate sampler (``space.rvs``) for the acquisition, changed in two ways.

        *Local candidates.* Without L-BFGS (a categorical parameter, or a
        conditional space) the acquisition's optimum is the best of random
        samples, which in 5+ dimensions rarely fall near the best results; as
        SMAC's local search does, ``_LOCAL_SHARE`` of the candidates are
        neighbours of the ``_LOCAL_STARTS`` best results instead.

        *Projection.* Each candidate is scored where the model will see it once
        observed: with its inactive parameters at their placeholders
        (``Space.fill``). Scored as drawn, a linear-kernel SVC candidate with
        gamma far from the placeholder looked unexplored however many linear
        kernels had been tried, and the model kept proposing them.
        """
        share = self.local_share if share is None else share
        project = self.acq_optimizer == "sampling"
        order = np.argsort(np.asarray(y[:n_results], dtype=float), kind="stable")
        starts = [X[i] for i in order[:_LOCAL_STARTS]]
        gen = np.random.default_rng(random_state)
        units: list[list[float]] = []  # each start's unit coordinates, once

        def rvs(n_samples: int = 1, random_state: Any = None) -> list[list]:
            xs = list(draw(n_samples=n_samples, random_state=random_state))
            n_local = int(n_samples * share) if starts else 0
            if n_local and not units:
                units.extend(self._units(start) for start in starts)
            xs[:n_local] = [self._perturb(units[i % len(units)], gen) for i in range(n_local)]
            # L-BFGS starts from the best candidates and needs them in the model's box as drawn.
            xs = [self.to_point(self.to_config(x)) for x in xs] if project else xs
            return self._spread_out(xs, X[n_results:], *spread) if spread else xs

        return rvs

    def _spread_out(self, xs: list[list], pending: list[list], radius: float, opt) -> list[list]:
        """``batch_spread``: the candidates farther than ``radius`` length scales (the GP's, just
        fitted) from every pending point; all of them if none is."""
        model = opt.models[-1]
        scales = np.broadcast_to(np.asarray(model.kernel_.k1.k2.length_scale, dtype=float),
                                 (opt.space.transformed_n_dims,))
        C = np.asarray(opt.space.transform(xs), dtype=float) / scales
        P = np.asarray(opt.space.transform(pending), dtype=float) / scales
        d2 = ((C[:, None, :] - P[None, :, :]) ** 2).sum(axis=2).min(axis=1)
        keep = [x for x, far in zip(xs, d2 >= radius ** 2) if far]
        return keep or xs

    def _units(self, point: list) -> list[float]:
        """``point``'s unit coordinates, one per parameter of the space (inactive ones at
        their placeholders)."""
        config = self.space.fill(self.to_config(point))
        return [p.to_unit(config[p.name]) for p in self.space.params]

    def _perturb(self, units: list[float], gen: np.random.Generator) -> list:
        """A neighbour of the point at unit coordinates ``units`` (:meth:`_units`): numeric
        coordinates moved by a Gaussian step (scale drawn from _LOCAL_SCALES), each
        categorical redrawn with probability 1/d."""
        params = self.space.params
        scale = float(gen.choice(_LOCAL_SCALES))
        u = []
        for p, x in zip(params, units):
            if isinstance(p, Categorical):
                if gen.random() < 1 / len(params):
                    x = (int(gen.integers(len(p.values))) + 0.5) / len(p.values)
            else:
                x = min(1.0, max(0.0, x + scale * float(gen.standard_normal())))
            u.append(x)
        return self.to_point(self.space.from_unit(u))

    def score(self, points: list[list], y_opt: float) -> np.ndarray:
        """The last fitted model's acquisition at ``points`` (lower is better).

        gp_hedge ranks by EI (the portfolio picks one point, not a ranking).
        """
        from skopt.acquisition import _gaussian_acquisition

        space, model = self._last
        acq = "EI" if self.acquisition == "gp_hedge" else self.acquisition
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return _gaussian_acquisition(np.asarray(space.transform(points), dtype=float), model,
                                         y_opt=y_opt, acq_func=acq, acq_func_kwargs=self.acq_kwargs)

    def predict(self, configs: list[dict], y: np.ndarray, points: list[list],
                random_state: int) -> tuple[np.ndarray, np.ndarray]:
        """Fit a fresh surrogate of this space to ``y`` at ``configs`` (another quantity than
        the searched one: a multi-objective searcher's single objective) and return its mean
        and std at ``points`` (``to_point`` form)."""
        from skopt.space import Space as SkSpace

        space = SkSpace(self.dimensions)
        X = np.asarray(space.transform([self.to_point(c) for c in configs]), dtype=float)
        C = np.asarray(space.transform(points), dtype=float)
        model = self._estimator(random_state, None, refit=True)
        model.fit(X, y)
        return model.predict(C, return_std=True)

    def _estimator(self, random_state: int, hyper: dict | None, refit: bool):
        from skopt.utils import cook_estimator

        if self.surrogate != "GP":
            estimator = cook_estimator(self.surrogate, space=self.dimensions, random_state=random_state)
            if self.surrogate == "GBRT":
                estimator = _tagged_gbrt()(**estimator.get_params(deep=False))
            return estimator
        gp = cook_estimator("GP", space=self.dimensions, random_state=random_state)
        if self.outside:
            gp = self._outside_gp(**gp.get_params(deep=False))
        if self.length_scale_prior != "none":
            n_scales = len(gp.kernel.k2.length_scale)  # one per model column
            gp.set_params(optimizer=functools.partial(_map_optimizer, n_scales=n_scales))
        if hyper is None:
            gp.set_params(n_restarts_optimizer=1)  # skopt's 2 restarts cost 50% more, rarely help
            return gp
        kernel = gp.kernel.clone_with_theta(np.array(hyper["theta"]))
        if refit:
            # Start from the last optimum (it moves little as data grows), plus
            # one random restart in case it has become a poor local optimum.
            gp.set_params(kernel=kernel, n_restarts_optimizer=1)
        else:
            # Known hyperparameters: no marginal-likelihood search, one Cholesky.
            gp.set_params(kernel=kernel, noise=max(hyper["noise"], 1e-10), optimizer=None)
        return gp

    @functools.cached_property
    def unit_space(self):
        """skopt's space of the GP's inputs (every dimension normalised to the unit box), built once."""
        from skopt.space import Space as SkSpace
        from skopt.utils import normalize_dimensions

        return SkSpace(normalize_dimensions(self.dimensions))

    @functools.cached_property
    def _outside_gp(self) -> type:
        return _inactive_outside_gp(self._encode_inactive)

    def _encode_inactive(self, Z: np.ndarray) -> np.ndarray:
        """``inactive: outside``: the model's rows ``Z`` (skopt's unit box) with the columns of
        each parameter inactive in that row set to ``_OUTSIDE``.

        Imputation by a constant outside the box (Swersky et al. 2014, Lévesque et
        al. 2017): two rows where a parameter is inactive agree on it, and a row where
        it is active is at least ``-_OUTSIDE`` unit ranges away from both.
        """
        Z = np.array(Z, dtype=float)
        if not len(Z):
            return Z
        points = self.unit_space.inverse_transform(Z)
        for i, point in enumerate(points):
            active = self.to_config(point)
            for name, cols in self.columns.items():
                if name not in active:
                    Z[i, cols] = _OUTSIDE
        return Z


@functools.cache
def _gp_class() -> type:
    from skopt.learning import GaussianProcessRegressor

    return GaussianProcessRegressor


def _inactive_outside_gp(encode) -> type:
    """skopt's GP whose inputs pass through ``encode`` (``inactive: outside``) in ``fit`` and
    ``predict``: every caller (skopt's Optimizer, gp_hedge, the acquisition, Thompson draws)
    hands it skopt's transformed rows and gets the encoded model."""

    class InactiveOutsideGP(_gp_class()):
        def fit(self, X, y):
            return super().fit(encode(X), y)

        def predict(self, X, *args, **kwargs):
            return super().predict(encode(X), *args, **kwargs)

    return InactiveOutsideGP


def _gamma_prior(t: np.ndarray) -> tuple[float, np.ndarray]:
    """Gamma(3, rate 6) on each length scale in unit ranges (mode 1/3, mean 1/2; BoTorch's
    SingleTaskGP default before 0.12): the negative log density of t = log(length scale), up to
    a constant, and its gradient."""
    return float(np.sum(-3 * t + 6 * np.exp(t))), -3 + 6 * np.exp(t)


def _map_optimizer(obj_func, initial_theta: np.ndarray, bounds, *,
                   n_scales: int) -> tuple[np.ndarray, float]:
    """scikit-learn's GP hyperparameter search (L-BFGS-B on the negative log marginal
    likelihood), with the length scales' negative log prior added: a MAP estimate.

    The kernel is skopt's: theta = (log amplitude, log length scales..., log noise).
    """
    from scipy.optimize import minimize

    scales = slice(1, 1 + n_scales)

    def objective(theta: np.ndarray) -> tuple[float, np.ndarray]:
        value, grad = obj_func(theta, eval_gradient=True)
        penalty, dpenalty = _gamma_prior(theta[scales])
        grad = np.array(grad, dtype=float)
        grad[scales] += dpenalty
        return value + penalty, grad

    result = minimize(objective, initial_theta, method="L-BFGS-B", jac=True, bounds=bounds)
    return result.x, float(result.fun)


@functools.cache
def _tagged_gbrt() -> type:
    """skopt's GBRT surrogate, mended for scikit-learn >= 1.6 and numpy >= 2.4.

    skopt declares ``GradientBoostingQuantileRegressor(BaseEstimator,
    RegressorMixin)``; with that base order the estimator tags say "not a
    regressor" and ``skopt.Optimizer`` refuses it. Its ``predict(return_std=True)``
    calls ``np.in1d``, which numpy 2.4 removed.
    """
    from skopt.learning import GradientBoostingQuantileRegressor

    class TaggedGradientBoostingQuantileRegressor(GradientBoostingQuantileRegressor):
        def __sklearn_tags__(self):
            from sklearn.utils import RegressorTags

            tags = super().__sklearn_tags__()
            tags.estimator_type, tags.regressor_tags = "regressor", RegressorTags()
            return tags

        def predict(self, X, return_std=False, return_quantiles=False):
            if not return_std or return_quantiles:
                return super().predict(X, return_std=False, return_quantiles=return_quantiles)
            # skopt's version calls np.in1d, removed in numpy 2.4; same arithmetic.
            low, mean, high = (self.regressors_[self.quantiles.index(q)].predict(X)
                               for q in (0.16, 0.5, 0.84))
            return mean, (high - low) / 2.0

    return TaggedGradientBoostingQuantileRegressor


def best_and_recent(losses: Sequence[float], k: int) -> list[int]:
    """Indices, in order, of the best ``k // 2`` losses and the most recent others (k in all).

    The best keep the model sharp where it matters; the recent keep it honest
    about where the search last looked.
    """
    if len(losses) <= k:
        return list(range(len(losses)))
    best = sorted(range(len(losses)), key=losses.__getitem__)[: k // 2]
    chosen = set(best)
    rest = [i for i in range(len(losses)) if i not in chosen][-(k - len(best)):]
    return sorted(best + rest)


# warping: logit. A unit coordinate u is seen as logit(e + (1 - 2e) u) with e = 0.5%:
# the bounds are finite (+-5.3), and a point on a bound is a point the model chose.
_LOGIT_EPS = 0.005
_LOGIT_BOUND = math.log((1 - _LOGIT_EPS) / _LOGIT_EPS)


def _logit(u: float) -> float:
    u = _LOGIT_EPS + (1 - 2 * _LOGIT_EPS) * min(1.0, max(0.0, u))
    return math.log(u / (1 - u))


def _unlogit(z: float) -> float:
    u = 1 / (1 + math.exp(-min(_LOGIT_BOUND, max(-_LOGIT_BOUND, z))))
    return min(1.0, max(0.0, (u - _LOGIT_EPS) / (1 - 2 * _LOGIT_EPS)))


_WARPS = {"logit": (_logit, _unlogit)}  # warping -> (unit -> model, model -> unit)

_VARIES = object()
# inactive: outside. Where a parameter is inactive the model sees this in its columns
# (unit coordinates; the box is [0, 1]).
_OUTSIDE = -1.0
# Two points closer than this in every unit coordinate are one point to a batch.
_NEAR = 1e-3


def _unit(space: Space, config: dict) -> list[float]:
    config = space.fill(config)
    return [p.to_unit(config[p.name]) for p in space.params]


def _only_value(p: Param) -> Any:
    if isinstance(p, Int) and p.low == p.high:
        return p.low
    if isinstance(p, Categorical) and len(p.values) == 1:
        return p.values[0]
    return _VARIES
