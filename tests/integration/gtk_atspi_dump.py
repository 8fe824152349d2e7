#!/usr/bin/python3
"""Print the accessible tree of a running application as JSON, read over AT-SPI: for each node its
role, name, description, text (the Text interface: what a label, an entry or a text view shows),
states and children. Used by gtk_session.py; run with the application's DBUS_SESSION_BUS_ADDRESS.

    gtk_atspi_dump.py APPLICATION-NAME

Exit status 3: the application is not (yet) on the accessibility bus.
"""

import json
import sys
import warnings

import gi

gi.require_version("Atspi", "2.0")
from gi.repository import Atspi, GLib  # noqa: E402

# get_text_iface is the documented way in at-spi2-core 2.46; PyGObject flags it anyway.
warnings.filterwarnings("ignore", category=DeprecationWarning)

MAX_DEPTH = 80
MAX_NODES = 20000


def node_of(acc, depth, budget):
    """The node of `acc`, or None when it went away while being read (a toast that closed, a
    row that was replaced)."""
    budget[0] -= 1
    try:
        node = {"role": acc.get_role_name(), "name": acc.get_name() or "",
                "description": acc.get_description() or ""}
        count = acc.get_child_count()
    except GLib.Error:
        return None
    try:
        text = acc.get_text_iface()
        if text is not None:
            node["text"] = text.get_text(0, text.get_character_count())
    except Exception:  # noqa: BLE001 (a widget that went away while we read)
        pass
    try:
        states = acc.get_state_set()
        node["states"] = sorted(s.value_nick for s in Atspi.StateType.__enum_values__.values() if states.contains(s))
    except Exception:  # noqa: BLE001
        node["states"] = []
    if depth < MAX_DEPTH and budget[0] > 0:
        children = []
        for i in range(count):
            try:
                child = acc.get_child_at_index(i)
            except GLib.Error:
                continue
            if child is not None and budget[0] > 0:
                child_node = node_of(child, depth + 1, budget)
                if child_node is not None:
                    children.append(child_node)
        if children:
            node["children"] = children
    return node


def main():
    want = sys.argv[1] if len(sys.argv) > 1 else "llmlab-gtk"
    Atspi.init()
    desktop = Atspi.get_desktop(0)
    for i in range(desktop.get_child_count()):
        app = desktop.get_child_at_index(i)
        if app is not None and app.get_name() == want:
            json.dump(node_of(app, 0, [MAX_NODES]), sys.stdout)
            return 0
    names = [desktop.get_child_at_index(i).get_name() for i in range(desktop.get_child_count())]
    sys.stderr.write("no application %r on the accessibility bus (found %r)\n" % (want, names))
    return 3


if __name__ == "__main__":
    sys.exit(main())
