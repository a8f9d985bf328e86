public enum Inference {}
