#!/usr/bin/python3
"""Builds calibration and held-out data for the corpus models from real photographs, speech and
typeset symbols (see scripts/corpus/README.md), preprocessed as each shipping package does, into
.cache/corpus/data/<id>/{calib,calib16,heldout}.np[yz]. Deterministic: every random choice is seeded.

Usage: /usr/bin/python3 scripts/corpus/make_data.py [--only faces,isnet,speech,glyphs,ocr,wake]
Needs the models (npm run corpus:fetch) and Node (some inputs come from an original model's outputs).
"""
import argparse
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import data_faces  # noqa: E402
import data_glyphs  # noqa: E402
import data_isnet  # noqa: E402
import data_ocr  # noqa: E402
import data_speech  # noqa: E402
import data_wake  # noqa: E402

BUILDERS = {'faces': data_faces.build, 'isnet': data_isnet.build, 'speech': data_speech.build, 'glyphs': data_glyphs.build,
            'ocr': data_ocr.build, 'wake': data_wake.build}


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('--only', default=','.join(BUILDERS), help='comma-separated: ' + ', '.join(BUILDERS))
    chosen = parser.parse_args().only.split(',')
    unknown = [c for c in chosen if c not in BUILDERS]
    if unknown:
        parser.error(f'unknown data set {", ".join(unknown)}')
    for name in chosen:
        start = time.time()
        print(f'{name}:')
        BUILDERS[name]()
        print(f'  ({time.time() - start:.0f} s)')


if __name__ == '__main__':
    main()
