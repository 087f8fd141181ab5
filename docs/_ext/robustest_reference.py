"""Reference pages generated from robustest's code, so that they cannot drift from it.

Directives (use them in MyST pages as ```{robustest-options}``` etc.):

- `robustest-options`: every option and ini key the pytest plugin registers, read back from
  `robustest.plugin.hooks.pytest_addoption` on a fresh pytest parser, with the default and help
  of each `robustest.settings.Settings` field;
- `robustest-cli`: every subcommand of `robustest.cli.build_parser()`, its usage and arguments;
- `robustest-api`: autodoc directives for every name of `robustest.__all__` (write it inside an
  `{eval-rst}` block: autodoc parses docstrings as reStructuredText);
- `robustest-run-schema`: the top-level keys of robustest/resources/run.schema.json, with the
  type, whether it is required and the schema's description of each.

Each option and subcommand gets an anchor (`options.md#robustest-max-queries`,
`cli.md#cli-evaluate`) that Markdown links elsewhere in the docs may point at.
"""

from __future__ import annotations

import argparse
import inspect
import json
import re
from pathlib import Path
from typing import Any, Iterable

from docutils import nodes
from docutils.statemachine import StringList
from sphinx import addnodes
from sphinx.util.docutils import SphinxDirective

SCHEMA = Path(__file__).resolve().parents[2] / "robustest" / "resources" / "run.schema.json"


# -- small node builders ---------------------------------------------------------------------
def para(*children: nodes.Node | str) -> nodes.paragraph:
    node = nodes.paragraph()
    node.extend(nodes.Text(c) if isinstance(c, str) else c for c in children)
    return node


def code(text: str) -> nodes.literal:
    return nodes.literal(text, text)


def doc_link(text: str, target: str, docname: str) -> addnodes.pending_xref:
    """A link to another page of the docs (`target` relative to the page `docname`)."""
    ref = addnodes.pending_xref("", refdomain="std", reftype="doc", reftarget=target, refdoc=docname, refexplicit=True)
    ref += nodes.inline(text, text)
    return ref


def anchored(directive: SphinxDirective, node: nodes.Element, anchor: str) -> nodes.Element:
    """Give `node` the id `anchor`, registered as an explicit target so that Markdown links
    (`page.md#anchor`) resolve to it."""
    node["ids"].append(anchor)
    node["names"].append(anchor)
    directive.state.document.note_explicit_target(node)
    return node


def definition_list(items: Iterable[tuple[nodes.term, list[nodes.Node]]]) -> nodes.definition_list:
    listing = nodes.definition_list()
    for term, body in items:
        item = nodes.definition_list_item()
        definition = nodes.definition()
        definition.extend(body)
        item += term
        item += definition
        listing += item
    return listing


def section(directive: SphinxDirective, title: str, anchor: str) -> nodes.section:
    node = nodes.section()
    node += nodes.title(title, title)
    return anchored(directive, node, anchor)


def shown_default(value: Any) -> str | None:
    """A default as a user would write it, or None when there is none (or it is off)."""
    if value is None or value is False or value == "" or value is argparse.SUPPRESS:
        return None
    if value is True:
        return "on"
    if isinstance(value, (tuple, list)):
        return ",".join(str(v) for v in value)
    return str(value)


# -- options ---------------------------------------------------------------------------------
def plugin_options() -> tuple[list[Any], dict[str, tuple]]:
    """The options (pytest `Argument`s, in the order added) and ini keys ({key: (help, type,
    default)}) that robustest's pytest_addoption registers on a fresh parser."""
    from _pytest.config.argparsing import Parser

    from robustest.plugin import hooks

    parser = Parser(_ispytest=True)
    hooks.pytest_addoption(parser)
    arguments = [argument for group in parser._groups for argument in group.options]
    return arguments, dict(parser._inidict)


class OptionsDirective(SphinxDirective):
    """Every pytest option of robustest: its name and metavar, ini key, default and help."""

    def run(self) -> list[nodes.Node]:
        from robustest.settings import ini_key, options

        settings = {"robustest_" + name: (name, default, option) for name, default, option in options()}
        arguments, ini = plugin_options()
        items = []
        for argument in arguments:
            attrs = argument.attrs()
            names = argument.names()
            long_name = max(names, key=len)
            setting = settings.get(attrs.get("dest", ""))
            if setting is not None:
                name, default, option = setting
                help_text, key = option.help, ini_key(name)
            else:  # an option that is not a Settings field: what pytest shows of it
                default, help_text, key = attrs.get("default"), str(attrs.get("help") or ""), None
                help_text = help_text.replace("%%", "%")
            flag = attrs.get("action") in ("store_true", "store_const")
            metavar = None if flag else (attrs.get("metavar") or long_name.lstrip("-").replace("-", "_").upper())
            term = nodes.term()
            term += code(", ".join(names) + (f"={metavar}" if metavar else ""))
            anchored(self, term, long_name.lstrip("-"))
            body = [para(help_text[:1].upper() + help_text[1:] + ("" if help_text.endswith(".") else "."))]
            facts: list[nodes.Node | str] = []
            if key is not None and key in ini:
                facts += ["ini key: ", code(key)]
            default_text = shown_default(default)
            if default_text or "default" not in help_text:  # the help may say what happens without it
                facts += ["; " if facts else "", "default: ", code(default_text) if default_text else nodes.emphasis("none", "none")]
            if flag:
                facts.append(" (a switch: the option alone turns it on)")
            body.append(para(*facts))
            items.append((term, body))
        return [definition_list(items)]


# -- command line ----------------------------------------------------------------------------
def subcommands(parser: argparse.ArgumentParser) -> list[tuple[str, str, argparse.ArgumentParser]]:
    """(name, help, parser) of every subcommand, in the order they were added."""
    found = []
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            helps = {choice.dest: choice.help or "" for choice in action._choices_actions}
            found += [(name, helps.get(name, ""), sub) for name, sub in action.choices.items()]
    return found


def setting_action(action: argparse.Action) -> bool:
    """An argument that is a Settings field under the plugin's option name (evaluate, encode)."""
    from robustest.settings import Settings, option_name

    return action.dest in Settings.__dataclass_fields__ and option_name(action.dest) in action.option_strings


class CliDirective(SphinxDirective):
    """Every `robustest` subcommand: what it does, its usage line and each argument."""

    def run(self) -> list[nodes.Node]:
        from robustest.cli import build_parser

        parser = build_parser()
        found = []
        for name, help_text, sub in subcommands(parser):
            node = section(self, f"robustest {name}", f"cli-{name}")
            if help_text:
                node += para(help_text[:1].upper() + help_text[1:] + ".")
            usage = self.usage(sub)
            node += nodes.literal_block(usage, usage, language="text")
            node += self.argument_list(sub)
            found.append(node)
        return found

    @staticmethod
    def usage(sub: argparse.ArgumentParser) -> str:
        """The usage line, with the plugin's options (dozens) shown as one `[OPTION ...]`."""
        kept = [a for a in sub._actions if not setting_action(a)]
        formatter = sub._get_formatter()
        formatter.add_usage(None, kept, sub._mutually_exclusive_groups, prefix="")
        usage = " ".join(formatter.format_help().split())
        if len(kept) < len(sub._actions):
            usage = usage.replace(f"{sub.prog} [-h]", f"{sub.prog} [-h] [OPTION ...]", 1)
        return usage

    def argument_list(self, sub: argparse.ArgumentParser) -> list[nodes.Node]:
        formatter = sub._get_formatter()
        items, settings = [], 0
        for action in sub._actions:
            if isinstance(action, argparse._HelpAction):
                continue
            if setting_action(action):
                settings += 1
                continue
            if action.option_strings:
                shown = ", ".join(action.option_strings)
                if action.nargs != 0:
                    shown += "=" + formatter._metavar_formatter(action, action.dest.upper())(1)[0]
            else:
                shown = formatter._metavar_formatter(action, action.dest)(1)[0]
            term = nodes.term()
            term += code(shown)
            help_text = formatter._expand_help(action) if action.help else ""
            facts: list[nodes.Node | str] = []
            if action.choices and action.metavar is None:
                facts += ["one of "] + [part for choice in action.choices for part in (code(str(choice)), ", ")][:-1]
            if action.required and action.option_strings:
                facts.append("; required" if facts else "required")
            default = shown_default(action.default)
            if default is not None and action.nargs != 0 and "default" not in help_text:
                facts += ["; default: " if facts else "default: ", code(default)]
            body = [para(help_text[:1].upper() + help_text[1:] + ("" if not help_text or help_text.endswith(".") else "."))] if help_text else []
            if facts:
                body.append(para(*facts))
            items.append((term, body))
        found: list[nodes.Node] = []
        if settings:
            found.append(
                para(
                    f"It takes all {settings} options of the pytest plugin (see ",
                    doc_link("the options reference", "options", self.env.docname),
                    "), by their plugin name (",
                    code("--robustest-dataset"),
                    ") or without the prefix (",
                    code("--dataset"),
                    "), and:" if items else ").",
                )
            )
        if items:
            found.append(definition_list(items))
        elif not settings:
            found.append(para("It takes no arguments."))
        return found


# -- Python API ------------------------------------------------------------------------------
class ApiDirective(SphinxDirective):
    """Autodoc for every public name of `robustest` (its `__all__`), or with a module as the
    argument, for that module's members but those `robustest.__all__` re-exports (they are
    documented under `robustest`).

    Use inside ```{eval-rst}```: the generated autodoc directives are reStructuredText."""

    optional_arguments = 1

    def run(self) -> list[nodes.Node]:
        lines = self.module_lines(self.arguments[0]) if self.arguments else self.top_level_lines()
        container = nodes.container()
        self.state.nested_parse(StringList(lines, source="robustest-api"), self.content_offset, container)
        return container.children

    def top_level_lines(self) -> list[str]:
        import robustest

        return [line for name in robustest.__all__ if not name.startswith("__") for line in autodoc_lines("robustest", name)]

    def module_lines(self, module: str) -> list[str]:
        import importlib

        import robustest

        names = getattr(importlib.import_module(module), "__all__", [])
        shared = [n for n in names if n in robustest.__all__]
        lines = [f".. automodule:: {module}", ""]  # its docstring; then each name, as for robustest
        if shared:
            names_shown = ", ".join(f"``{n}``" for n in shared)
            lines += [f"Also importable from ``{module}``: {names_shown} (documented under ``robustest`` above).", ""]
        return lines + [line for name in names if name not in shared for line in autodoc_lines(module, name)]


def autodoc_lines(module: str, name: str) -> list[str]:
    """The autodoc directive for `module.name`, by what the name is."""
    import importlib

    value = getattr(importlib.import_module(module), name)
    if inspect.isclass(value):
        kind = "autoexception" if issubclass(value, BaseException) else "autoclass"
        return [f".. {kind}:: {module}.{name}", "   :members:", ""]
    if callable(value):
        return [f".. autofunction:: {module}.{name}", ""]
    return [f".. autodata:: {module}.{name}", ""]


# -- run file ---------------------------------------------------------------------------------
def schema_type(spec: dict[str, Any]) -> str:
    kinds = spec.get("type")
    if kinds is None and "$ref" in spec:
        kinds = spec["$ref"].rsplit("/", 1)[-1]
    if kinds is None and "const" in spec:
        return json.dumps(spec["const"])
    if kinds is None:
        kinds = [schema_type(option) for option in spec.get("anyOf", spec.get("oneOf", []))] or "any"
    return " or ".join(kinds) if isinstance(kinds, list) else str(kinds)


class RunSchemaDirective(SphinxDirective):
    """The top-level keys of the run file schema: type, required or optional, description."""

    def run(self) -> list[nodes.Node]:
        self.env.note_dependency(str(SCHEMA))
        schema = json.loads(SCHEMA.read_text(encoding="utf-8"))
        required = set(schema.get("required", []))
        items = []
        for key, spec in schema["properties"].items():
            term = nodes.term()
            term += code(key)
            anchored(self, term, f"key-{key.replace('_', '-')}")
            facts = ["required" if key in required else "optional", "; ", schema_type(spec)]
            body = [para(*facts)]
            if spec.get("description"):
                body.append(para(spec["description"]))
            items.append((term, body))
        return [definition_list(items)]


# -- docstrings -------------------------------------------------------------------------------
PARAMETER_LINE = re.compile(r"^([A-Za-z_]\w*): (.*)$")


def parameter_fields(app, what: str, name: str, obj: Any, options: Any, lines: list[str]) -> None:
    """robustest's docstrings list parameters as `name: what it is` lines, continued by indented
    lines. autodoc reads reStructuredText: make each such line (of a real parameter) a
    `:param name:` field, which renders as the parameter list (with the annotated types)."""
    try:
        parameters = set(inspect.signature(obj).parameters)
    except (TypeError, ValueError):
        return
    out: list[str] = []
    in_field = False
    for line in lines:
        found = PARAMETER_LINE.match(line)
        if found and found.group(1) in parameters:
            out.append(f":param {found.group(1)}: {found.group(2)}")
            in_field = True
        elif in_field and line.startswith(" ") and line.strip():
            out.append("   " + line.strip())
        else:
            if in_field and line.strip():
                out.append("")  # a field list ends with a blank line
            in_field = False
            out.append(line)
    lines[:] = out


# -- incremental builds ------------------------------------------------------------------------
GENERATED = re.compile(r"\{robustest-(options|cli|run-schema)\}|robustest-api::")


def read_again(app, env, added: set[str], changed: set[str], removed: set[str]) -> list[str]:
    """Pages that show generated reference are read on every build, not only when their own
    text changed: the code they are generated from may have."""
    return [doc for doc in env.found_docs - added - changed if GENERATED.search(Path(env.doc2path(doc)).read_text(encoding="utf-8"))]


def setup(app) -> dict[str, Any]:
    app.connect("autodoc-process-docstring", parameter_fields)
    app.connect("env-get-outdated", read_again)
    app.add_directive("robustest-options", OptionsDirective)
    app.add_directive("robustest-cli", CliDirective)
    app.add_directive("robustest-api", ApiDirective)
    app.add_directive("robustest-run-schema", RunSchemaDirective)
    return {"version": "1", "parallel_read_safe": True, "parallel_write_safe": True}
