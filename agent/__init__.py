"""The agent: an MLLM that turns referring queries into SAM 3 calls and selects masks."""
