"""Reads a CloudFormation/SAM template with PyYAML: short-form intrinsics (`!Ref X`,
`!Sub ...`, `!If [...]`) become their long form (`{"Ref": "X"}`, `{"Fn::Sub": ...}`).
Shared by iac.sh's template checks and policy_scan.py."""

import yaml


class _Loader(yaml.SafeLoader):
    pass


def _intrinsic(loader, suffix, node):
    name = "Ref" if suffix == "Ref" else f"Fn::{suffix}"
    if isinstance(node, yaml.ScalarNode):
        return {name: loader.construct_scalar(node)}
    if isinstance(node, yaml.SequenceNode):
        return {name: loader.construct_sequence(node, deep=True)}
    return {name: loader.construct_mapping(node, deep=True)}


_Loader.add_multi_constructor("!", _intrinsic)


def load_template(path) -> dict:
    with open(path) as f:
        return yaml.load(f, Loader=_Loader)
