#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0
"""Validate Documentation/*.rst with docutils; any warning is an error.

    check-docs.py [FILE.rst...]     (default: Documentation/*.rst)

The pages are written for Sphinx, like the kernel's Documentation/. Plain
docutils does not know the three Sphinx constructs they use, so this script
registers minimal versions that check what matters: `toctree` and `:doc:`
entries name existing pages, `literalinclude` files exist and are read (as
Sphinx does, relative to the page). Every page must be in index.rst's toctree.
Each page is then rendered to HTML with halt_level=warning.
"""
import os
import sys

from docutils import nodes
from docutils.core import publish_string
from docutils.parsers.rst import Directive, directives, roles
from docutils.utils import SystemMessage


def doc_dir(directive):
    source = directive.state_machine.get_source(directive.lineno)
    return os.path.dirname(os.path.abspath(source))


class TocTree(Directive):
    has_content = True
    option_spec = {"maxdepth": int, "caption": directives.unchanged, "hidden": directives.flag}

    def run(self):
        items = nodes.bullet_list()
        for entry in filter(None, (line.strip() for line in self.content)):
            if not os.path.isfile(os.path.join(doc_dir(self), entry + ".rst")):
                raise self.error(f"toctree: no page {entry}.rst")
            items += nodes.list_item("", nodes.paragraph(text=entry))
        return [items]


class LiteralInclude(Directive):
    required_arguments = 1
    option_spec = {"language": directives.unchanged, "caption": directives.unchanged,
                   "linenos": directives.flag}

    def run(self):
        path = os.path.join(doc_dir(self), self.arguments[0])
        try:
            with open(path, encoding="utf-8") as f:
                text = f.read()
        except OSError as e:
            raise self.error(f"literalinclude: {e}")
        self.state.document.settings.record_dependencies.add(path)
        return [nodes.literal_block(text, text)]


def doc_role(name, rawtext, text, lineno, inliner, options=None, content=None):
    # `:doc:`page`` or `:doc:`Title <page>``.
    target = text.split("<")[-1].rstrip(">").strip()
    source = inliner.document.current_source
    if not os.path.isfile(os.path.join(os.path.dirname(os.path.abspath(source)), target + ".rst")):
        msg = inliner.reporter.error(f":doc: no page {target}.rst", line=lineno)
        return [inliner.problematic(rawtext, rawtext, msg)], [msg]
    return [nodes.reference(rawtext, target, refuri=target + ".html")], []


def main(files):
    directives.register_directive("toctree", TocTree)
    directives.register_directive("literalinclude", LiteralInclude)
    roles.register_local_role("doc", doc_role)
    settings = {"halt_level": 2, "report_level": 2, "exit_status_level": 2,
                "input_encoding": "utf-8", "output_encoding": "utf-8",
                "file_insertion_enabled": True, "raw_enabled": False,
                "syntax_highlight": "none"}
    failed = 0
    for path in files:
        try:
            with open(path, encoding="utf-8") as f:
                publish_string(f.read(), source_path=path, writer_name="html",
                               settings_overrides=settings)
            print(f"ok: {path}")
        except (SystemMessage, OSError) as e:
            print(f"FAILED: {path}: {e}")
            failed += 1

    # Every page is reachable from the index (Sphinx warns about orphans too).
    docdir = os.path.dirname(files[0]) if files else "Documentation"
    index = os.path.join(docdir, "index.rst")
    if os.path.isfile(index):
        listed = set(open(index, encoding="utf-8").read().split())
        for path in files:
            page = os.path.splitext(os.path.basename(path))[0]
            if page != "index" and os.path.dirname(path) == docdir and page not in listed:
                print(f"FAILED: {path}: not in the toctree of {index}")
                failed += 1
    return 1 if failed else 0


if __name__ == "__main__":
    here = os.path.dirname(os.path.abspath(__file__))
    default = os.path.join(here, "..", "Documentation")
    args = sys.argv[1:] or sorted(os.path.join(default, f) for f in os.listdir(default)
                                  if f.endswith(".rst"))
    sys.exit(main([os.path.normpath(a) for a in args]))
