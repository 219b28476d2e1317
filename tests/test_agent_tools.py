"""The agent's tools as classes: one place each for the name, the prompt line, the argument checks and the
run; the reply parser hands each call to its tool."""

from __future__ import annotations

import json

import pytest

from agent.parsing import ParseError, parse_reply
from agent.prompts import SYSTEM_PROMPT
from agent.tools import TOOLS
from agent.tools.check import verdict


def test_every_tool_is_in_the_prompt_with_its_example():
    assert set(TOOLS) == {"segment", "inspect", "check", "select", "no_match"}
    for name, tool in TOOLS.items():
        assert tool.name == name and tool.prompt_line() in SYSTEM_PROMPT
        example = json.dumps({"tool": name, **tool.example})
        assert example in SYSTEM_PROMPT and parse_reply(example).tool == name  # the prompt's example is valid


@pytest.mark.parametrize(
    "reply, tool, args",
    [
        ('{"tool": "segment", "phrase": "cup"}', "segment", {"phrases": ["cup"]}),
        ('{"tool": "segment", "phrases": ["cup", "cup", " mug "], "boxes": [[1, 2, 3, 4]]}', "segment",
         {"phrases": ["cup", "mug"], "boxes": [[1.0, 2.0, 3.0, 4.0]]}),
        ('{"name": "select", "arguments": {"masks": ["#2", 3]}}', "select", {"masks": [2, 3], "text": ""}),
        ('{"tool": "select", "masks": [1], "text": "  1   red cup "}', "select", {"masks": [1], "text": "1 red cup"}),
        ('{"tool": "check", "masks": [1, 2]}', "check", {"masks": [1, 2], "question": ""}),
        ('{"tool": "no_match", "reason": "none", "text": "No"}', "no_match", {"reason": "none", "text": "No"}),
    ],
)
def test_each_tool_checks_its_arguments(reply, tool, args):
    call = parse_reply(reply)
    assert (call.tool, call.args) == (tool, args)


@pytest.mark.parametrize(
    "reply, message",
    [
        ('{"tool": "segment", "phrases": []}', "1 to 4 short noun phrases"),
        ('{"tool": "segment", "phrases": ["a", "b", "c", "d", "e"]}', "at most 4"),
        ('{"tool": "segment", "phrases": ["cup"], "boxes": [[1, 2, 3]]}', "[x0, y0, x1, y1]"),
        ('{"tool": "select", "masks": []}', "non-empty list"),
        ('{"tool": "select", "masks": [true]}', "mask numbers"),
        ('{"tool": "select", "masks": [1], "text": 5}', '"text" must be a string'),
        ('{"tool": "check", "masks": [1], "question": "  "}', '"question" must say'),
        ('{"tool": "fly"}', "unknown tool"),
    ],
)
def test_bad_arguments_become_a_message_for_the_model(reply, message):
    with pytest.raises(ParseError, match=message.replace("[", r"\[").replace("]", r"\]")):
        parse_reply(reply)


def test_a_check_reply_ends_in_a_verdict():
    assert verdict("It is red. <verdict>Accept</verdict>") is True
    assert verdict("<verdict>Accept</verdict> hmm, no: <verdict>Reject</verdict>") is False
    assert verdict("No, that is a plate.") is False and verdict("yes") is True
    assert verdict("I would reject this one.") is False and verdict("hard to say") is None
