"""One glossary for every page: each technical word once, in plain words.

Pages pass `help=ui.term("EMA")` to a widget, or `ui.glossary("x̂", "EMA", ...)` to list the words a
section uses under a small expander. Add a term here, never a second definition on a page.
"""
from __future__ import annotations

import streamlit as st

TERMS: dict[str, str] = {
    # ---- the basics
    "batch norm (BN)": "Batch normalization: inside the network, each unit's values are shifted "
                       "and scaled so that, over the current mini-batch, they have mean 0 and "
                       "standard deviation 1; then a learned scale γ and shift β are applied.",
    "plain": "The same network without batch norm (and with its usual bias in every layer).",
    "mini-batch": "The small group of training examples (here usually 64) the network sees in "
                  "one training step.",
    "pre-activation": "A unit's value before its nonlinearity (ReLU, tanh, ...): z = w·x + b. "
                      "Batch norm acts on it, as in the lecture.",
    "μ_B and σ²_B": "The mean and variance of a unit's pre-activations over the current "
                    "mini-batch B.",
    "x̂": "x-hat, the normalized value: (z − μ_B) / √(σ²_B + ε). Over the batch it has mean 0 "
          "and standard deviation 1.",
    "γ and β": "Gamma and beta: one learned scale and one learned shift per unit, applied after "
               "normalizing (γ·x̂ + β), so the network can still choose any mean and spread.",
    "ε": "Epsilon, a tiny number (1e-5) added to the variance so that we never divide by zero.",
    "affine": "A change of the form a·z + b: rescaling and shifting, nothing else.",
    "train mode": "How BN runs while training: it normalizes with the statistics of the current "
                  "mini-batch.",
    "eval mode": "How BN runs at test time: it normalizes with fixed statistics (running or "
                 "population), so an example's prediction does not depend on the other examples "
                 "in its batch.",
    "EMA": "Exponential moving average (the running statistics): after each step, running = "
           "decay · running + (1 − decay) · this batch's value. Used in eval mode.",
    "running statistics": "The mean and variance BN keeps as an exponential moving average "
                          "(EMA) of the mini-batch statistics during training.",
    "population statistics": "The mean and variance of a unit over the whole training set, "
                             "computed once after training; the alternative to running "
                             "statistics in eval mode.",
    "decay": "How much of the old running average is kept at each step (0.9 keeps 90%): higher "
             "decay is smoother but slower to follow the weights as they train.",
    "logits": "The network's raw outputs, one per class (digit 0-9), before softmax turns them "
              "into probabilities.",
    "test accuracy": "The share of the 540 held-out test digits the network classifies "
                     "correctly. Chance (guessing) is 10%.",
    "chance": "The accuracy of always guessing the commonest digit of the test set (about "
              "10%): what a network that ignores its input scores.",
    "training loss": "The cross-entropy on training examples: how wrong the network's "
                     "probabilities are. Lower is better; 2.30 is a network that guesses.",
    "seed": "The number that fixes every random choice (initial weights, batches). Each number "
            "is shown over several seeds, so you can see how much of a difference is luck.",
    "seed spread": "How much a number varies from seed to seed: shown as min–max in brackets, "
                   "or ± one standard deviation.",
    "diverged": "Training blew up: the loss became infinite or not-a-number, so training stopped "
                "for that run.",
    # ---- page 2
    "covariate shift": "A change in the distribution of a layer's inputs. *Internal* covariate "
                       "shift is the change a hidden layer sees because the layers before it "
                       "keep learning.",
    "percentile band": "The 15th to 85th percentile of a unit's values over the training set: "
                       "70% of examples fall inside the band; the line is the median (50th).",
    "drift": "How far the median of a unit's input moved over training: its largest value "
             "minus its smallest.",
    "mean and spread": "The mean and standard deviation of a unit's values over the training "
                       "set (statisticians call them the first two moments).",
    "relative change": "How much a set of numbers moved, as a fraction of its size: ‖new − "
                       "old‖ / ‖old‖. 0.1 means a 10% change.",
    # ---- page 3
    "coupling": "How much what one layer must learn depends on what the layers before it are "
                "doing. If changing layer 1 forces layer 5 to change its weights, they are "
                "coupled.",
    "gradient": "For each weight, how much the loss would change if that weight moved a little: "
                "the direction training moves the weights in.",
    "gradient shift (Santurkar)": "Santurkar et al.'s measure of internal covariate shift (their "
                                  "Definition 2.1): a layer's gradient G before, and G′ after, "
                                  "the layers below take their training step, on the same batch.",
    "cosine similarity": "cos(G, G′): 1 when two gradients point the same way, 0 when they are "
                         "unrelated. 1 would mean the layers below did not disturb this layer.",
    "noisy BN": "Batch norm with random noise added after it, with a mean and scale redrawn "
                "every step: the inputs of every layer are deliberately unstable.",
    "W1": "The weight matrix of layer 1 (the first hidden layer): 64 pixel inputs times the "
          "layer's units. \"W1 × 2\" doubles every one of its weights.",
    "Def. 2.1": "Definition 2.1 in Santurkar et al. (2018): internal covariate shift measured on "
                "gradients. Take layer i's gradient G; let layers 1 … i−1 take their training "
                "step; compute layer i's gradient G′ again on the same batch. The more G′ "
                "differs from G, the more layer i's job depends on the layers below.",
    "cos(G, G′)": "The cosine between the gradient before (G) and after (G′) the layers below "
                  "moved: 1 when they point the same way (nothing changed for this layer), 0 "
                  "when unrelated, negative when G′ points back against G.",
    "‖G − G′‖/‖G‖": "How far the gradient moved, as a fraction of its size: 0 means unchanged, "
                    "1 means a change as large as the gradient itself.",
    # ---- page 4
    "regularization": "Anything that makes a network generalize better to new data (a smaller "
                      "gap between training and test accuracy), usually by making training "
                      "harder to memorize.",
    "dropout": "Regularization that sets a random fraction of units to 0 at each training step.",
    "batch noise": "With BN, an example's hidden value depends on which other examples share its "
                   "mini-batch: the same image gets a slightly different value each step.",
    "ghost batch": "Batch norm computed over small groups (ghost batches) of the mini-batch, "
                   "each with its own statistics: more batch noise with the same training batch.",
    "full-batch gradient descent": "Training where every step uses all the training examples "
                                   "at once, so the step itself is not random (unlike SGD on "
                                   "mini-batches).",
    "paired seeds": "Both versions of an experiment run on the same seed (same data, initial "
                    "weights and order), so their difference is not blurred by luck of the draw.",
    "train/test gap": "Training accuracy minus test accuracy: how much the network memorized "
                      "rather than learned. Regularization shrinks it.",
    "confidence interval": "A range that, over repeated experiments, contains the true average "
                           "difference 95% of the time. If it excludes 0, the difference is "
                           "unlikely to be luck.",
    "ablation": "Switching units off (setting their output to 0) to see how much the network "
                "relies on them.",
    "AUC": "Area under the curve: here the average test accuracy over all ablation fractions. "
           "Higher means the network copes better as units are removed.",
    "frozen statistics": "After ablation, BN keeps normalizing with the statistics from before "
                         "the units were removed (what a deployed network does).",
    "recomputed statistics": "After ablation, BN's statistics are computed again on the ablated "
                             "network, so later layers are re-normalized.",
    # ---- page 5
    "learning rate": "How big a step the optimizer takes along the gradient. Too small: slow. "
                     "Too large: training blows up.",
    "init gain": "A multiplier on the random initial weights (1 = the standard He "
                 "initialization). Larger gains start the network with larger values.",
    "He initialization": "Random initial weights with standard deviation √(2 / inputs), which "
                         "keeps ReLU activations at a steady size through the layers.",
    "good cell": "A learning rate and init gain whose runs reach at least 90% test accuracy "
                 "(seed mean).",
    "effective learning rate": "With BN, scaling a layer's weights by c does not change the "
                               "network's output, but makes its updates c² times smaller "
                               "relative to the weights: what counts is lr / ‖W‖².",
    "largest lr that learns": "The largest learning rate such that it and every smaller one in "
                              "the sweep, from the smallest that trains, train (finite loss, "
                              "ending well below where it started). A learning rate too small "
                              "to get anywhere in the steps given does not count against it.",
    "loss range": "Along the current gradient, how much the loss varies over a range of step "
                  "sizes: small means the loss surface is smooth in that direction.",
    "gradient change": "How much the gradient changes as you step along it: small means the "
                       "gradient stays a reliable guide (Santurkar's gradient predictiveness).",
    "gradient smoothness": "The largest change of the gradient per unit of distance moved along "
                           "it (Santurkar et al.'s β-smoothness, a β unrelated to BN's shift "
                           "β): smaller is smoother, which lets training take bigger steps.",
    "gradient change per unit distance": "How much the gradient changes per unit of distance "
                                         "moved along it, ‖Δg‖ / ‖Δw‖, the largest over the "
                                         "step sizes tried (Santurkar et al.'s "
                                         "β-smoothness, not BN's β): lower is smoother, which lets "
                                         "training take bigger steps.",
    "largest lr that stays finite": "The largest learning rate such that it and every smaller "
                                    "one in the sweep keep a finite loss (none diverged). A "
                                    "larger lr that happens to stay finite after one that "
                                    "diverged does not count.",
    "crossing step": "The training step where plain's curve crosses BN's: before it plain is "
                     "rougher, after it not. Found per seed as the split that agrees with the "
                     "most measurements.",
    "matched learning rate": "Both nets trained with the same (small) learning rate, so any "
                             "difference in speed comes from BN itself, not from a larger step.",
    "SGD": "Stochastic gradient descent: weights move by −learning rate × gradient at each step.",
    "momentum": "SGD that keeps a running sum of past gradients and moves along it (0.9 keeps "
                "90%): faster through long valleys.",
    "Adam": "An optimizer that scales each weight's step by its recent gradient size.",
    # ---- page 6
    "dead unit": "A ReLU unit that outputs 0 for every example: it passes no signal and gets no "
                 "gradient, so it may never recover.",
    "saturated unit": "A unit stuck in the flat part of its activation, where the gradient is "
                      "near 0: for tanh |output| > 0.97, for sigmoid output < 0.03 or > 0.97; for "
                      "ReLU, a dead unit.",
    "update:data ratio": "How big a step is compared with the weights: std of the update / std "
                         "of the weights, per layer. Karpathy's rule of thumb: about 1e-3 "
                         "(−3 on a log10 scale).",
    "saturation": "The share of a layer's outputs that sit in the flat part of the activation, "
                  "where almost no gradient passes back: tanh |output| > 0.97, sigmoid output "
                  "< 0.03 or > 0.97 (Karpathy's check; a few percent is fine). For ReLU the "
                  "share of zero outputs is about half by design; dead units are what matter.",
    "hidden layer": "A layer between the input (the 64 pixels) and the output (the 10 digit "
                    "scores): a linear map, then (with BN) batch norm, then the activation.",
    "unit": "One neuron of a layer: it computes one number per example. A layer of 100 units "
            "turns each example into 100 numbers.",
    "activation function": "The nonlinearity applied to each unit: ReLU (max(0, z)), tanh "
                           "(between −1 and 1) or sigmoid (between 0 and 1). Without it, "
                           "stacked layers would be one linear map.",
    "training step": "One update of the weights, computed from one mini-batch.",
    # ---- page 7
    "LayerNorm": "Layer normalization: like batch norm, but each example is normalized over its "
                 "own units rather than each unit over the batch. It needs no batch.",
    "normalization": "Shifting and scaling a layer's values to mean 0 and variance 1 before the "
                     "nonlinearity, then by learned γ and β: batch norm takes the mean and "
                     "variance over the mini-batch, LayerNorm over each example's own units; "
                     "with none, the net is plain.",
    "effective rank": "How many independent directions a set of vectors really spans: 1 if "
                      "every example's representation points the same way, up to the width if "
                      "they are all different.",
    "ln 10": "About 2.30: the loss of a network that gives each of the ten digits the same "
             "probability, i.e. one that has learned nothing. A run stuck there has not "
             "diverged; it has stopped learning.",
    "invariant": "Unchanged, exactly (up to float rounding, below 1e-4 here), whatever the "
                 "size of the change.",
}


def term(name: str) -> str:
    """The plain definition of `name` (a KeyError names the missing term: add it to TERMS)."""
    return TERMS[name]


def glossary(*names: str, label: str = "Words on this page") -> None:
    """A small closed expander with the definitions of `names`, in the given order."""
    missing = [n for n in names if n not in TERMS]
    if missing:
        raise KeyError(f"not in ui/glossary.py: {missing}")
    with st.expander(label, icon=":material/menu_book:"):
        st.markdown("\n".join(f"- **{n}**: {TERMS[n]}" for n in names))
