package io.bagpipe.worker;

import ai.djl.engine.Engine;
import ai.djl.pytorch.jni.JniUtils;

/**
 * PyTorch's thread pools are per process. Intra-op threads (per operator) may
 * change between runs; inter-op threads can be fixed only once, before any
 * parallel work, so they are set to 1 on the first call and left alone after.
 */
public final class TorchThreads {

  private static boolean interopFixed;

  private TorchThreads() {}

  /** Sets {@code intraOp} threads per operator (0 leaves PyTorch's default). */
  public static synchronized void configure(int intraOp) {
    if (intraOp <= 0) {
      return;
    }
    Engine.getEngine("PyTorch"); // loads the native library the calls below need
    if (!interopFixed) {
      interopFixed = true;
      try {
        JniUtils.setNumInteropThreads(1);
      } catch (RuntimeException alreadyStarted) {
        // earlier work in this process fixed it; the intra-op count is what matters
      }
    }
    JniUtils.setNumThreads(intraOp);
  }
}
