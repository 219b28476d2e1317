"""The agent's tools, one class each (name, prompt text, argument checks, run), dispatched by name."""

from agent.tools.base import ParseError, Tool, ToolContext, ToolResult
from agent.tools.check import Check
from agent.tools.inspect import Inspect
from agent.tools.no_match import NoMatch
from agent.tools.segment import Segment
from agent.tools.select import Select

TOOLS: dict[str, Tool] = {tool.name: tool for tool in (Segment(), Inspect(), Check(), Select(), NoMatch())}

__all__ = ["TOOLS", "ParseError", "Tool", "ToolContext", "ToolResult"]
