package io.bagpipe.api;

/** A run ended in failure; the message says why and what to do. */
public final class RunFailedException extends RuntimeException {
  public RunFailedException(String message) {
    super(message);
  }

  public RunFailedException(String message, Throwable cause) {
    super(message, cause);
  }
}
