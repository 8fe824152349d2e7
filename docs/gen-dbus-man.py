#!/usr/bin/python3
"""Generate org.llmlab.Lab1(5) in scdoc from the D-Bus contract (dbus/*.xml) and the error table
(common/lab-error.h): every interface, property, method, signal and error, with the documentation
written in the XML comments. Fails when an error has no description here, so the page cannot fall
behind the table.

    gen-dbus-man.py LAB_ERROR_H INTERFACE.xml... > org.llmlab.Lab1.5.scd

Standard library only.
"""

import re
import sys
import textwrap
import xml.etree.ElementTree as ET

ERRORS = {
    "InvalidArgument": "A request, option or filter is malformed: an unknown key, a value of the wrong "
                       "type or out of range, a text too long. The message names the key.",
    "NoSuchModel": "The backend does not have the model.",
    "NoSuchPrompt": "No preset system prompt has this id.",
    "NoSuchBenchmark": "No benchmark has this id (or a built-in one cannot be removed).",
    "NoSuchRun": "No stored run has this id.",
    "BackendUnavailable": "The inference server cannot be reached (connection refused, timeout).",
    "BackendError": "The inference server answered with an error, broke off its stream, or exceeded a "
                    "limit (transcript size, silence).",
    "EnergyUnavailable": "Energy was asked for live, but no energy counter is readable here.",
    "QueueFull": "The measurement queue has MaxQueueLength runs waiting already.",
    "TooManyRuns": "The caller has MaxRunsPerUser runs (or jobs) active already.",
    "NotOwner": "The run or job belongs to another user.",
    "Cancelled": "The run or job was cancelled (by its owner, or because its owner left the bus).",
    "PermissionDenied": "polkit did not authorize the caller for the method's action.",
    "Failed": "Anything else; the message says what.",
}


def scdoc_escape(text):
    """scdoc treats * and _ as formatting and \\ as escape."""
    return text.replace("\\", "\\\\").replace("*", "\\*").replace("_", "\\_")


def paragraphs(comment):
    """A comment's text as paragraphs: blank lines separate them, '* ' lines are bullets."""
    lines = textwrap.dedent(comment.strip("\n")).strip().split("\n")
    out, cur = [], []

    def flush():
        if cur:
            out.append(" ".join(cur))
            cur.clear()

    for line in lines:
        s = line.strip()
        if not s:
            flush()
        elif s.startswith("* "):
            flush()
            cur.append("• " + s[2:])
        else:
            cur.append(s)
    flush()
    return out


def member_doc(comment, name):
    """The comment of a member, without a leading "Name:"."""
    if comment is None:
        return []
    paras = paragraphs(comment)
    if paras and paras[0].startswith(name + ":"):
        first = paras[0][len(name) + 1:].strip()
        paras[0] = first[:1].upper() + first[1:]
    return [p for p in paras if p]


def emit(out, text="", indent=False):
    prefix = "\t" if indent else ""
    for line in textwrap.wrap(text, 95) if text else [""]:
        out.append(prefix + line if line else "")


def parse_interface(path):
    raw = open(path, encoding="utf-8").read()
    header = re.search(r"<!--(.*?)-->\s*<node", raw, re.S)
    parser = ET.XMLParser(target=ET.TreeBuilder(insert_comments=True))
    root = ET.fromstring(raw, parser=parser)
    iface = root.find("interface")
    members, comment = [], None
    for child in iface:
        if child.tag is ET.Comment:
            comment = child.text
            continue
        members.append((child, comment))
        comment = None
    return iface.get("name"), header.group(1) if header else "", members


def signature(elem, kind):
    args = []
    for a in elem.findall("arg"):
        direction = a.get("direction", "out" if kind == "signal" else "in")
        prefix = "" if kind == "signal" else direction + " "
        args.append("%s%s %s" % (prefix, a.get("type"), a.get("name")))
    return ", ".join(args)


def interface_section(out, name, header, members):
    out.append("## %s" % name)
    out.append("")
    for p in paragraphs(header):
        # The header names the interface and its object path first; the rest is the contract.
        emit(out, scdoc_escape(p))
        out.append("")
    for kind, title in (("property", "Properties"), ("method", "Methods"), ("signal", "Signals")):
        items = [(m, c) for m, c in members if m.tag == kind]
        if not items:
            continue
        out.append("%s of %s:" % (title, name))
        out.append("")
        for elem, comment in items:
            mname = elem.get("name")
            if kind == "property":
                access = elem.get("access")
                emits = [a.get("value") for a in elem.findall("annotation")
                         if a.get("name") == "org.freedesktop.DBus.Property.EmitsChangedSignal"]
                note = access
                if emits == ["const"]:
                    note += ", constant"
                elif emits == ["invalidates"]:
                    note += ", changes announced without the value"
                out.append("*%s* %s (%s)" % (mname, scdoc_escape(elem.get("type")), note))
            else:
                out.append("*%s*(%s)" % (mname, scdoc_escape(signature(elem, kind))))
            doc = member_doc(comment, mname)
            if not doc:
                sys.exit("gen-dbus-man: %s.%s has no documentation comment" % (name, mname))
            for i, p in enumerate(doc):
                if i > 0:
                    out.append("\t")
                emit(out, scdoc_escape(p), indent=True)
            out.append("")


def error_names(header_path):
    text = open(header_path, encoding="utf-8").read()
    enum = re.search(r"typedef enum LabErrorCode \{(.*?)\}", text, re.S).group(1)
    names = []
    for m in re.finditer(r"^\s*LAB_ERROR_([A-Z_]+),", enum, re.M):
        names.append("".join(w.capitalize() for w in m.group(1).split("_")))
    return names


def main(argv):
    if len(argv) < 3:
        sys.exit(__doc__)
    errors = error_names(argv[1])
    missing = [e for e in errors if e not in ERRORS]
    if missing:
        sys.exit("gen-dbus-man: undocumented errors: %s (add them to ERRORS)" % ", ".join(missing))

    interfaces = [parse_interface(p) for p in argv[2:]]
    order = {"org.llmlab.Lab1.Manager": 0, "org.llmlab.Lab1.Run": 1, "org.llmlab.Lab1.Job": 2}
    interfaces.sort(key=lambda i: order.get(i[0], 9))

    out = ["org.llmlab.Lab1(5)", "", "# NAME", "",
           "org.llmlab.Lab1 - the D-Bus interface of llmlabd", "",
           "# SYNOPSIS", ""]
    for name, _, _ in interfaces:
        out.append("%s" % name)
        out.append("")
    out += ["# DESCRIPTION", ""]
    emit(out, "*llmlabd*(8) serves the bus name *org.llmlab.Lab1* on the system bus (on the session bus "
              "with *llmlabd --user*): the Manager at _/org/llmlab/Lab1_, one Run object per run at "
              "_/org/llmlab/Lab1/run/ID_ and one Job object per job at _/org/llmlab/Lab1/job/ID_. "
              "*llmlabctl*(1) and *busctl*(1) are clients of it. This page is generated from the "
              "interface files installed in _/usr/share/dbus-1/interfaces/_, which are the contract: "
              "members are only ever added, never renamed or changed.")
    out.append("")
    emit(out, "A dictionary's key missing from a result means \"not applicable\". Energies are in Wh, "
              "powers in W, durations in ms unless a name says otherwise, timestamps in µs since the "
              "epoch.")
    out.append("")
    out += ["# INTERFACES", ""]
    for name, header, members in interfaces:
        interface_section(out, name, header, members)

    out += ["# ERRORS", ""]
    emit(out, "Errors are D-Bus errors named *org.llmlab.Lab1.Error.*_NAME_, with a message for people:")
    out.append("")
    for e in errors:
        out.append("*org.llmlab.Lab1.Error.%s*" % e)
        emit(out, scdoc_escape(ERRORS[e]), indent=True)
        out.append("")
    emit(out, "Methods may also fail with the bus's own errors, such as "
              "*org.freedesktop.DBus.Error.ServiceUnknown* when llmlabd is not running, and "
              "*org.freedesktop.DBus.Error.InteractiveAuthorizationRequired* when polkit needs to ask "
              "and the caller did not allow interactive authorization.")
    out.append("")
    out += ["# EXAMPLES", "", "```",
            "busctl introspect org.llmlab.Lab1 /org/llmlab/Lab1",
            "busctl get-property org.llmlab.Lab1 /org/llmlab/Lab1 org.llmlab.Lab1.Manager Backends",
            "busctl call org.llmlab.Lab1 /org/llmlab/Lab1 org.llmlab.Lab1.Manager ListModels 'a{sv}' 0",
            "```", "",
            "# SEE ALSO", "", "*llmlabd*(8), *llmlabctl*(1), *llmlab.conf*(5), *busctl*(1)"]
    sys.stdout.write("\n".join(out) + "\n")


if __name__ == "__main__":
    main(sys.argv)
