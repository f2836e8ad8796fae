"""Typed configuration: dataclasses, TOML loading, ``--set key=value`` overrides.

Standard library only, so the runtime and the CLI can read configs without torch. ``schema`` holds the
dataclasses (one per recipe table, each validating itself); ``loading`` turns TOML files, dicts and ``--set``
overrides into them. Every check raises :class:`~edgeseq.errors.ConfigError` naming the bad key and what was
expected.
"""

from __future__ import annotations

from edgeseq.config.conversion import check_field_types as check_field_types
from edgeseq.config.conversion import from_dict as from_dict
from edgeseq.config.loading import apply_overrides as apply_overrides
from edgeseq.config.loading import check_depth as check_depth
from edgeseq.config.loading import config_from_dict as config_from_dict
from edgeseq.config.loading import load_config as load_config
from edgeseq.config.loading import parse_override as parse_override
from edgeseq.config.loading import read_toml as read_toml
from edgeseq.config.schema import *  # noqa: F403 - the dataclasses, constants and checks, as before the split
from edgeseq.config.schema import _choice, _positive  # noqa: F401 - used by other packages' configs
