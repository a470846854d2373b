"""Device names: `DeviceSpec` parses, merges and prints `/job:J/replica:R/task:T/device:TYPE:N`.

Partial and short forms are accepted (`/cpu:1`, `/gpu:0`, `/job:ps`, `/device:CPU:*`).  Merging
follows TF1: fields set in the inner (newer) spec override those of the outer one.
"""
from __future__ import annotations

__all__ = ["DeviceSpec", "canonical_name", "merge_device"]


class DeviceSpec:
    """A (possibly partial) device specification."""

    __slots__ = ("job", "replica", "task", "device_type", "device_index")

    def __init__(self, job=None, replica=None, task=None, device_type=None, device_index=None):
        self.job = job
        self.replica = None if replica is None else int(replica)
        self.task = None if task is None else int(task)
        self.device_type = None if device_type is None else device_type.upper()
        self.device_index = None if device_index is None else int(device_index)

    @classmethod
    def from_string(cls, spec: str) -> DeviceSpec:
        return cls().parse_from_string(spec)

    def parse_from_string(self, spec: str) -> DeviceSpec:
        if spec is None:
            return self
        if not isinstance(spec, str):
            raise TypeError(f"Device spec must be a string, got {type(spec).__name__}")
        self.job = self.replica = self.task = self.device_type = self.device_index = None
        for part in spec.split("/"):
            if not part:
                continue
            fields = part.split(":")
            key = fields[0].lower()
            try:
                if key == "job" and len(fields) == 2:
                    self.job = fields[1]
                elif key == "replica" and len(fields) == 2:
                    self.replica = int(fields[1])
                elif key == "task" and len(fields) == 2:
                    self.task = int(fields[1])
                elif key == "device" and len(fields) in (2, 3):
                    self.device_type = fields[1].upper()
                    if len(fields) == 3 and fields[2] != "*":
                        self.device_index = int(fields[2])
                elif key in ("cpu", "gpu") and len(fields) == 2:
                    self.device_type = key.upper()
                    if fields[1] != "*":
                        self.device_index = int(fields[1])
                elif (len(fields) in (1, 2) and key.upper() in ("CPU", "GPU")
                      and fields[0].isupper()):
                    self.device_type = key.upper()
                    if len(fields) == 2 and fields[1] != "*":
                        self.device_index = int(fields[1])
                else:
                    raise ValueError
            except ValueError:
                raise ValueError(f"Unknown attribute {part!r} in device specification {spec!r}; "
                                 "expected /job:NAME/replica:N/task:N/device:TYPE:N or /cpu:N, "
                                 "/gpu:N") from None
        return self

    def merge_from(self, dev: DeviceSpec) -> None:
        """Overwrite the fields that `dev` sets."""
        for f in self.__slots__:
            v = getattr(dev, f)
            if v is not None:
                setattr(self, f, v)

    def make_merged_spec(self, dev: DeviceSpec) -> DeviceSpec:
        out = self.copy()
        out.merge_from(dev)
        return out

    def copy(self) -> DeviceSpec:
        return DeviceSpec(self.job, self.replica, self.task, self.device_type, self.device_index)

    def to_string(self) -> str:
        s = ""
        if self.job is not None:
            s += f"/job:{self.job}"
        if self.replica is not None:
            s += f"/replica:{self.replica}"
        if self.task is not None:
            s += f"/task:{self.task}"
        if self.device_type is not None:
            idx = "*" if self.device_index is None else self.device_index
            s += f"/device:{self.device_type}:{idx}"
        return s

    def __str__(self):
        return self.to_string()

    def __repr__(self):
        return f"DeviceSpec({self.to_string()!r})"

    def __eq__(self, other):
        return isinstance(other, DeviceSpec) and self.to_string() == other.to_string()

    def __hash__(self):
        return hash(self.to_string())


def canonical_name(spec) -> str:
    """The normal string form of a device spec (`''` for no device)."""
    if spec is None or spec == "":
        return ""
    if isinstance(spec, DeviceSpec):
        return spec.to_string()
    return DeviceSpec.from_string(spec).to_string()


def merge_device(outer: str, inner: str) -> str:
    """The device string of a node created under `inner` nested in `outer`."""
    if not inner:
        return outer or ""
    if not outer:
        return canonical_name(inner)
    return DeviceSpec.from_string(outer).make_merged_spec(DeviceSpec.from_string(inner)).to_string()
