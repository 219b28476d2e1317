"""The Gradio app: one module per tab (`tab_*`), their plain-Python logic (`ask`, `segment`), rendering,
exports, inputs and the shared models. `app.py` at the repository root launches it."""
