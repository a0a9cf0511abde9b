package io.dlog.client;

import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.InetAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.util.List;
import java.util.concurrent.CopyOnWriteArrayList;

/** A loopback TCP relay in front of a server that can hold back the server's answers and cut every connection: lost answers, on demand. */
final class Relay implements AutoCloseable {
  private final ServerSocket listener;
  private final String host;
  private final int port;
  private final List<Socket> sockets = new CopyOnWriteArrayList<>();
  private final Object gate = new Object();
  private boolean holding;

  Relay(String target) throws IOException {
    int colon = target.lastIndexOf(':');
    host = target.substring(0, colon);
    port = Integer.parseInt(target.substring(colon + 1));
    listener = new ServerSocket(0, 50, InetAddress.getLoopbackAddress());
    Thread acceptor = new Thread(this::accept, "relay-accept");
    acceptor.setDaemon(true);
    acceptor.start();
  }

  String address() {
    return "127.0.0.1:" + listener.getLocalPort();
  }

  /** Stop passing the server's bytes on (they wait in the relay). */
  void holdAnswers() {
    synchronized (gate) {
      holding = true;
    }
  }

  /** Drop every connection (and whatever answers were held), then pass everything again. */
  void cut() {
    for (Socket socket : sockets) {
      try {
        socket.close();
      } catch (IOException e) {
        // closing anyway
      }
    }
    sockets.clear();
    synchronized (gate) {
      holding = false;
      gate.notifyAll();
    }
  }

  @Override
  public void close() throws IOException {
    cut();
    listener.close();
  }

  private void accept() {
    while (!listener.isClosed()) {
      try {
        Socket client = listener.accept();
        Socket server = new Socket(host, port);
        sockets.add(client);
        sockets.add(server);
        pump(client, server, false);
        pump(server, client, true);
      } catch (IOException e) {
        return;
      }
    }
  }

  private void pump(Socket from, Socket to, boolean answers) {
    Thread thread = new Thread(() -> {
      byte[] buffer = new byte[16384];
      try (InputStream in = from.getInputStream(); OutputStream out = to.getOutputStream()) {
        for (int n; (n = in.read(buffer)) >= 0; ) {
          if (answers) {
            synchronized (gate) {
              while (holding && !from.isClosed()) gate.wait(50);
            }
            if (from.isClosed()) return;
          }
          out.write(buffer, 0, n);
          out.flush();
        }
      } catch (IOException | InterruptedException e) {
        // a cut or the end of the connection
      } finally {
        try {
          from.close();
          to.close();
        } catch (IOException e) {
          // closing anyway
        }
      }
    }, "relay-pump");
    thread.setDaemon(true);
    thread.start();
  }
}
