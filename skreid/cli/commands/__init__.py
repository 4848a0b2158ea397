"""The ``skreid`` sub-commands, one module each, listed in :data:`COMMANDS`.

A command module has three functions:

``add_parser(subparsers)``
    register the sub-command on the ``skreid`` parser's ``subparsers`` (its name, help,
    description and arguments) and return its parser;
``run(args, progress)``
    do the work: check every argument first (raise :class:`~skreid.cli._common.CLIError`
    for exit 2 with one line; what the libraries raise is sorted by
    :func:`skreid.cli._errors.user_error`),
    report steps through ``progress(message)`` (stderr) and return the results as a dict
    with a ``"command"`` key (``--json`` prints it);
``show(results)``
    print the results for a person (stdout).

Adding a command is one new module here and one entry in :data:`COMMANDS`; nothing else
names it. Import heavy dependencies (TensorFlow, estimators, onnxruntime) inside ``run``, so
that ``skreid --help`` and the other commands start without them.
"""

from skreid.cli.commands import adapt, demo, export, fetch, index, pets, reid, search

#: name -> module, in the order ``skreid --help`` lists them
COMMANDS = {
    "demo": demo,
    "reid": reid,
    "pets": pets,
    "fetch": fetch,
    "export": export,
    "index": index,
    "search": search,
    "adapt": adapt,
}

__all__ = ["COMMANDS"]
