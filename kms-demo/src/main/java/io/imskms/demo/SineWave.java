package io.imskms.demo;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;

/** A WAV file (RIFF, PCM 16-bit mono) of a sine tone: the demo's media. */
final class SineWave {
  private SineWave() {}

  static byte[] wav(double seconds, int sampleRate, double frequencyHz) {
    int samples = (int) Math.round(seconds * sampleRate);
    int dataBytes = samples * 2;
    ByteBuffer b = ByteBuffer.allocate(44 + dataBytes).order(ByteOrder.LITTLE_ENDIAN);
    b.put("RIFF".getBytes(StandardCharsets.US_ASCII)).putInt(36 + dataBytes)
        .put("WAVE".getBytes(StandardCharsets.US_ASCII))
        .put("fmt ".getBytes(StandardCharsets.US_ASCII)).putInt(16)
        .putShort((short) 1) // PCM
        .putShort((short) 1) // mono
        .putInt(sampleRate).putInt(sampleRate * 2)
        .putShort((short) 2) // block align
        .putShort((short) 16) // bits per sample
        .put("data".getBytes(StandardCharsets.US_ASCII)).putInt(dataBytes);
    for (int i = 0; i < samples; i++) {
      double fade = Math.min(1.0, Math.min(i, samples - 1 - i) / (0.01 * sampleRate));
      b.putShort((short) Math.round(0.5 * fade * Short.MAX_VALUE
          * Math.sin(2 * Math.PI * frequencyHz * i / sampleRate)));
    }
    return b.array();
  }
}
