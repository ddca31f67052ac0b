"""The edge device agent: TFLite candidate ranking on the device. Never imports TensorFlow or ``cloud``."""
