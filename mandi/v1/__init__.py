"""Generated protobuf/gRPC stubs (make proto). Never hand-edit."""
