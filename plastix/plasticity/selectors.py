"""Layer selectors: which parameters an intervention touches, named by path.

An agent's parameters are ``params[network][scope][layer][leaf]`` (``critic/torso/dense_1/
kernel``). A *layer* is a module holding a kernel: ``encoder/conv_i``, ``torso/dense_i`` (with
its ``torso/norm_i`` LayerNorm, if any) and ``head``. A selector is a comma-separated union of:

| selector | selects |
|---|---|
| ``all`` | every parameter of every network (SAC's temperature included) |
| ``critic``, ``actor``, ``temperature`` | one network |
| ``critic/head``, ``critic/torso/dense_1``, ``actor/encoder`` | a path prefix inside a network |
| ``encoder`` | every network's encoder |
| ``no-encoder`` | every layered network except its encoder (SAC's temperature excluded) |
| ``all-but-encoder`` | every parameter but the encoders' (SAC's temperature included) |
| ``last:K`` | the last K layers of every layered network (``last:1`` is every head; a dueling
  network's value stream counts with the layer it parallels) |
| ``critic/last:K`` | the last K layers of one network |
"""

from __future__ import annotations

from typing import Any

import jax

from plastix.errors import ConfigError

LAYER_SCOPES = ("encoder", "trunk", "torso")
MEMORY = "memory"
"""the recurrent cell of a network with a memory: its input kernels take the torso's units."""


PER_UNIT = ("norm_", "diag_")
"""modules of per-unit parameters that belong to the layer before them (LayerNorm, Parseval's
learnable scales)."""


def layers_of(network_params: dict) -> list[str]:
    """The layers of one network in forward order (``[]`` for an unlayered network)."""
    layers = []
    for scope in LAYER_SCOPES:
        if scope in network_params:
            names = [n for n in network_params[scope] if not n.startswith(PER_UNIT)]
            names.sort(key=lambda n: int(n.rsplit("_", 1)[1]))
            layers += [f"{scope}/{n}" for n in names]
    if MEMORY in network_params:  # a recurrent cell between the torso and the head (ppo-gru)
        layers.append(MEMORY)
    if "head" in network_params:
        layers.append("head")
    return layers


def _layer_of_path(path: str) -> str:
    """``torso/norm_1/scale`` (or ``diag_1``) -> ``torso/dense_1``, ``encoder/norm_0/bias`` ->
    ``encoder/conv_0``; ``head/kernel`` -> ``head``; a dueling value stream's
    ``value/head/bias`` -> ``head``."""
    parts = path.split("/")
    if parts[0] == "value" and len(parts) > 1:
        parts = parts[1:]
    if parts[0] == "head":
        return "head"
    if parts[0] in LAYER_SCOPES and len(parts) > 1:
        layer = "conv_" if parts[0] == "encoder" else "dense_"
        module = parts[1]
        for prefix in PER_UNIT:
            module = module.replace(prefix, layer)
        return f"{parts[0]}/{module}"
    return parts[0]


def _paths(tree: Any) -> list[tuple[str, Any]]:
    flat, _ = jax.tree_util.tree_flatten_with_path(tree)
    return [("/".join(str(getattr(k, "key", k)) for k in path), leaf) for path, leaf in flat]


def describe_choices(params: dict) -> str:
    networks = sorted(params)
    layered = [n for n in networks if layers_of(params[n])]
    examples = [f"{n}/{layer}" for n in layered for layer in layers_of(params[n])]
    return (
        f"all, encoder, no-encoder, all-but-encoder, last:K, {', '.join(networks)}, "
        + ", ".join(f"{n}/last:K" for n in layered)
        + (", or a layer path such as " + ", ".join(examples[:6]) if examples else "")
    )


def _term_predicate(term: str, params: dict):
    """A predicate ``(network, path) -> bool`` for one selector term; raises if invalid."""
    networks = set(params)
    layered = {n for n in networks if layers_of(params[n])}

    def last(k_text: str, nets):
        try:
            k = int(k_text)
        except ValueError:
            k = 0
        if k < 1:
            raise ConfigError(f"last:K needs a positive integer K, got {term!r}")
        chosen = {n: set(layers_of(params[n])[-k:]) for n in nets}
        return lambda net, path: net in chosen and _layer_of_path(path) in chosen[net]

    if term == "all":
        return lambda net, path: True
    if term == "encoder":
        if not any("encoder" in params[n] for n in networks):
            raise ConfigError(
                "selector 'encoder': these networks have no encoder (the "
                "observations are not images)"
            )
        return lambda net, path: path.startswith("encoder/")
    if term == "no-encoder":
        return lambda net, path: net in layered and not path.startswith("encoder/")
    if term == "all-but-encoder":
        return lambda net, path: not path.startswith("encoder/")
    if term.startswith("last:"):
        return last(term[len("last:") :], layered)
    if term in networks:
        return lambda net, path: net == term
    net, _, rest = term.partition("/")
    if net in networks and rest:
        if rest.startswith("last:"):
            if net not in layered:
                raise ConfigError(f"selector {term!r}: {net} has no layers")
            return last(rest[len("last:") :], {net})
        known = [p for p, _ in _paths(params[net])]
        if any(p == rest or p.startswith(rest + "/") for p in known):
            return lambda n, path: n == net and (path == rest or path.startswith(rest + "/"))
    raise ConfigError(f"unknown layer selector {term!r}; valid choices: {describe_choices(params)}")


def select(params: dict, selector: str) -> dict:
    """A tree of bools like ``params``: True where ``selector`` selects the parameter."""
    terms = [t.strip() for t in selector.split(",") if t.strip()]
    if not terms:
        raise ConfigError(f"empty layer selector; valid choices: {describe_choices(params)}")
    predicates = [_term_predicate(t, params) for t in terms]
    mask = {}
    for net, tree in params.items():
        leaves, treedef = jax.tree_util.tree_flatten_with_path(tree)
        values = []
        for path, _ in leaves:
            text = "/".join(str(getattr(k, "key", k)) for k in path)
            values.append(any(p(net, text) for p in predicates))
        mask[net] = jax.tree_util.tree_unflatten(treedef, values)
    return mask
