"""Node paths: how the engine names every node execution of one execution.

A node execution is named by the path from the workflow's top level down to it:

| path       | what it is                                                    |
|------------|---------------------------------------------------------------|
| ``n0``     | node ``n0`` of the launched workflow                          |
| ``n2/n0``  | node ``n0`` of the sub-workflow that node ``n2`` runs         |
| ``n1/n1a`` | node ``n1a``, the case that branch ``n1`` chose               |
| ``n3[0]``  | item 0 of map node ``n3``                                     |

Node ids match ``[A-Za-z_][A-Za-z0-9_-]*``, so ``/`` and ``[`` never occur in
them and a path always parses back. ``""`` is the execution itself (the root).
"""

from __future__ import annotations

ROOT = ""


def child(parent: str, node_id: str) -> str:
    """The path of node ``node_id`` under ``parent`` (a sub-workflow or branch node, or root)."""
    return f"{parent}/{node_id}" if parent else node_id


def item(map_path: str, index: int) -> str:
    """The path of item ``index`` of the map node at ``map_path``."""
    return f"{map_path}[{index}]"


def parent(path: str) -> str:
    """The node that ``path`` runs inside of: its map, branch or sub-workflow node, or the root."""
    if path.endswith("]"):
        return path[: path.rindex("[")]
    cut = path.rfind("/")
    return path[:cut] if cut >= 0 else ROOT


def split_item(path: str) -> tuple[str, int | None]:
    """``("n3", 0)`` for ``n3[0]``; ``(path, None)`` for a path that is not a map item."""
    if not path.endswith("]"):
        return path, None
    cut = path.rindex("[")
    return path[:cut], int(path[cut + 1 : -1])


def node_id(path: str) -> str:
    """The id of the spec node that ``path`` runs (a map item runs its map node's task)."""
    base, _ = split_item(path)
    return base[base.rfind("/") + 1 :]


def is_under(path: str, ancestor: str) -> bool:
    """Whether ``path`` runs inside ``ancestor`` (at any depth); the root contains everything."""
    if ancestor == ROOT:
        return path != ROOT
    return len(path) > len(ancestor) and path.startswith(ancestor) and path[len(ancestor)] in "/["
