"""``skreid fetch pets``: download a dataset into the cache folder."""

import os

from skreid.cli._common import CLIError
from skreid.cli._options import common_options


def add_parser(subparsers):
    parser = subparsers.add_parser(
        "fetch", help="download a dataset",
        description="Download a dataset into the cache folder, checked by SHA-256.")
    parser.add_argument("dataset", choices=("pets",))
    parser.add_argument("--data-home", metavar="DIR",
                        help="cache folder (default: $SKREID_DATA or ~/skreid_data)")
    common_options(parser)
    return parser


def run(args, progress):
    from skreid.datasets import fetch_oxford_pets, get_data_home

    progress("fetching Oxford-IIIT Pet (two archives, ~800 MB, checked by SHA-256)")
    try:
        # the images are read once to check the download; small ones keep memory low
        pets = fetch_oxford_pets(data_home=args.data_home, image_size=(32, 32),
                                 verbose=not args.quiet)
        path = os.path.join(os.fspath(get_data_home(args.data_home)), "oxford_pets")
    except (ValueError, OSError) as exc:
        raise CLIError(f"fetch pets: {str(exc).strip().splitlines()[0]}") from None
    return {"command": "fetch", "dataset": "pets", "images": len(pets.images), "path": path}


def show(results):
    print(f"Oxford-IIIT Pet ready: {results['images']} images in {results['path']}")
