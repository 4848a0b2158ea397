"""The run of a command that writes a report folder (``demo``, ``reid``, ``pets``): the folder
is claimed first, the work fills it, report.md/report.html/results.json are written and the
folder is moved into place whole."""

import os
import time

from skreid.cli._common import ReportFolder


def results_header(args, command):
    """What every report records about its run: command line, versions, hardware, settings."""
    from skreid import __version__
    from skreid.cli.report import hardware, settings_of, versions

    return {"command": command, "argv": " ".join(["skreid", *args.argv]),
            "skreid_version": __version__, "seed": args.seed, "hardware": hardware(),
            "versions": versions(), "settings": settings_of(args), "started": time.time()}


def run_with_report(args, command, work):
    """Create the report folder first (so an unwritable --out fails before any work), run
    ``work(results, folder)``, write report.md + results.json and move the folder into place."""
    folder = ReportFolder(args.out)
    try:
        results = results_header(args, command)
        work(results, folder)
        results["wall_time_s"] = round(time.time() - results["started"], 1)
        results["out"] = folder.path
        from skreid.cli.report import write_report

        write_report(folder, results)
        folder.commit()
    except BaseException:
        folder.abort()
        raise
    return results


def save_fitted(results, fitted, path, metadata_of, progress):
    """Save the run's one fitted model with its metadata; the report lists it."""
    from skreid.cli._save import save_model

    if not fitted:  # the method was skipped (an optional dependency missing)
        progress(f"nothing to save at {path}: no model was trained")
        return
    (label, estimator), = fitted.items()
    progress(f"saving {label} to {path}")
    results["saved_models"] = [save_model(estimator, path, metadata_of(results, label))]


def show_report(results):
    """The terminal output of a report run: its tables, then where the report is."""
    from skreid.cli.report import text_tables

    print(text_tables(results))
    print(f"\nreport: {os.path.join(results['out'], 'report.html')} (and report.md) "
          f"({len(results['files'])} files, {results['wall_time_s']:.0f} s)")
