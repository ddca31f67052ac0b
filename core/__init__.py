"""The ground layer: primitives every program shares (the device, the cloud, the fleet and the SDK).

The split payload codec, request-context and router features, the router's gain model, the TFLite
edge step contract, model bundles, route names, settings, costs and prices. It imports only
``protos`` and numpy (and pydantic for settings), so the smallest device install carries it.
"""
