"""MONAI Label app entry point (``monailabel start_server --app <this folder>``); the app is
:class:`raddino_monai.serving.label.app.RadDinoLabelApp` (MONAI Label picks the ``MONAILabelApp`` subclass it finds
in this module)."""

from raddino_monai.serving.label.app import RadDinoLabelApp

__all__ = ["RadDinoLabelApp"]
