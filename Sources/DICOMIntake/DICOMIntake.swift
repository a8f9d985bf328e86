public enum DICOMIntake {}
