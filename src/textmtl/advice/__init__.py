"""Which method should I use? `textmtl advise` measures a config's gradient geometry, loss scales,
task sizes and per-step costs, checks the data for test texts seen in training, and recommends a
method with the measured reasons (issue 21)."""
