public enum Phantom {}
