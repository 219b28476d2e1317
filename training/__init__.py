"""Training `transformers`' `Sam3Model` with the losses of the SAM 3 paper (the model ships none)."""
