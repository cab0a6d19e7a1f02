"""What each page says, as pure functions of its results: the short answer, the verdict lines,
the chart titles that state a finding.

Teaches: a sentence is data-dependent code, so it can be tested. Every comparative is chosen by
`bnjax.text.compare` from per-seed numbers; tests feed results where a comparison flips and check
that the sentence flips with it. One module per page (`narration.covariate_shift`, ...); no
Streamlit here, markdown strings out.
"""
