"""MLLM backends behind `agent.llm.ChatModel`."""
