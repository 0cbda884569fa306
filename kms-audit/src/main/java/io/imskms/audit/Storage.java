package io.imskms.audit;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;

/** How the writer opens append files; the seam through which tests inject disk faults. */
interface Storage {

  /** An open file the writer appends to. */
  interface Appender extends AutoCloseable {
    long size() throws IOException;

    /** Writes all of {@code buf} at the end. */
    void append(ByteBuffer buf) throws IOException;

    /** fdatasync. */
    void force() throws IOException;

    void truncate(long size) throws IOException;

    /** Reads at most dst.remaining() bytes at {@code pos}. */
    int read(ByteBuffer dst, long pos) throws IOException;

    @Override
    void close() throws IOException;
  }

  Appender open(Path file) throws IOException;

  Storage FILES = file -> {
    FileChannel ch = FileChannel.open(file, StandardOpenOption.CREATE, StandardOpenOption.WRITE,
        StandardOpenOption.READ);
    return new Appender() {
      @Override
      public long size() throws IOException {
        return ch.size();
      }

      @Override
      public void append(ByteBuffer buf) throws IOException {
        long pos = ch.size();
        while (buf.hasRemaining()) {
          pos += ch.write(buf, pos);
        }
      }

      @Override
      public void force() throws IOException {
        ch.force(false);
      }

      @Override
      public void truncate(long size) throws IOException {
        ch.truncate(size);
      }

      @Override
      public int read(ByteBuffer dst, long pos) throws IOException {
        return ch.read(dst, pos);
      }

      @Override
      public void close() throws IOException {
        ch.close();
      }
    };
  };
}
