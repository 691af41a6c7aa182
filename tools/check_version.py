#!/usr/bin/env python3
"""Fails unless the version agrees everywhere it is written: include/idem/version.hpp
(IDEM_VERSION_MAJOR/MINOR/PATCH and IDEM_VERSION_STRING), meson.build, CMakeLists.txt and the
newest entry of CHANGELOG.md."""
import pathlib
import re
import sys

root = pathlib.Path(__file__).resolve().parent.parent
hpp = (root / "include/idem/version.hpp").read_text()
parts = [re.search(rf"#define IDEM_VERSION_{k} (\d+)", hpp).group(1) for k in ("MAJOR", "MINOR", "PATCH")]
found = {
    "version.hpp macros": ".".join(parts),
    "IDEM_VERSION_STRING": re.search(r'#define IDEM_VERSION_STRING "([^"]+)"', hpp).group(1),
    "meson.build": re.search(r"version: '([^']+)'", (root / "meson.build").read_text()).group(1),
    "CMakeLists.txt": re.search(r"project\(idem VERSION (\S+)", (root / "CMakeLists.txt").read_text()).group(1),
    "CHANGELOG.md": re.search(r"^## (\d+\.\d+\.\d+)", (root / "CHANGELOG.md").read_text(), re.M).group(1),
}
if len(set(found.values())) != 1:
    for where, v in found.items():
        print(f"{where}: {v}")
    sys.exit("the version differs between files")
print(f"version {found['meson.build']} everywhere")
