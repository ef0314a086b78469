// Thumbnails of a node's last output in the flow editor, sent over Node-RED's comms channel
// (the websocket every editor keeps open) on a topic of our own.
//
// Who is watching: each editor that loaded resources/age-editor.js says so on the SHOWING topic
// when its comms connection opens (`RED.comms.send`, which the runtime turns into the event
// `comms:message:<topic>` with the connection's session); the runtime forgets a session on
// `comms:connection-removed`. While no editor is watching, nothing is made and nothing is sent.
// Thumbnails are made after the node has sent its message, one at a time per node, and only
// the newest waiting one is kept, so a busy flow never waits for them.
import type { Node, NodeAPI } from 'node-red';
import { makeThumbnail } from '../../lib/image/thumbnail';

type ThumbnailOptions = NonNullable<Parameters<typeof makeThumbnail>[1]>;

/** Topics shared with resources/age-editor.js. */
export const PREVIEW_TOPIC = 'age-transform/preview';
export const SHOWING_TOPIC = 'age-transform/previews';

/** Sessions of editors that show thumbnails. */
const watching = new Set<string>();
let listening = false;

interface SessionEvent {
  session?: string;
}

function listen(RED: NodeAPI): void {
  if (listening) return;
  listening = true;
  const events = RED.events as unknown as { on(name: string, fn: (event: SessionEvent) => void): void };
  events.on(`comms:message:${SHOWING_TOPIC}`, (event) => {
    if (event.session) watching.add(event.session);
  });
  events.on('comms:connection-removed', (event) => {
    if (event.session) watching.delete(event.session);
  });
}

/** Whether an editor that shows thumbnails is connected. */
export function editorsWatching(): boolean {
  return watching.size > 0;
}

/** A node's thumbnails. */
export interface Preview {
  /**
   * Shows an image under the node: returns at once, the thumbnail is made later (nothing at
   * all when the setting is off or no editor watches).
   * @param options `label`: written on the thumbnail (age-regress: the measured age);
   *   `strip`: the image is a strip of ages (its thumbnail may be wider)
   */
  show(image: Buffer, options?: ThumbnailOptions): void;
}

/**
 * The thumbnails of one node. Turned off, it removes a thumbnail editors still show from an
 * earlier deploy; a node deleted from the flow takes its thumbnail with it.
 */
export function nodePreview(RED: NodeAPI, node: Node, enabled: boolean): Preview {
  listen(RED);
  const topic = `${PREVIEW_TOPIC}/${node.id}`;
  // Publishing without retain also drops what the runtime retained for late editors.
  const clear = (): void => RED.comms.publish(topic, { image: null }, false);
  if (!enabled) {
    clear();
    return { show: () => undefined };
  }
  let waiting: { image: Buffer; options?: ThumbnailOptions } | undefined;
  let making = false;
  let closed = false;

  const makeNext = async (): Promise<void> => {
    while (waiting && !closed) {
      const { image, options } = waiting;
      waiting = undefined;
      try {
        const { jpeg, width, height } = await makeThumbnail(image, options);
        // Retained: an editor opened later (or reloaded) shows the last one too.
        if (!closed && editorsWatching()) RED.comms.publish(topic, { image: `data:image/jpeg;base64,${jpeg.toString('base64')}`, width, height }, true);
      } catch (err) {
        // A picture the flow made but sharp cannot shrink is no reason to fail the flow.
        node.debug(`no thumbnail: ${(err as Error).message}`);
      }
    }
    making = false;
  };

  node.on('close', (removed: boolean, done: () => void) => {
    closed = true;
    waiting = undefined;
    if (removed) clear();
    done();
  });

  return {
    show(image, options) {
      if (closed || !editorsWatching()) return;
      waiting = { image, options };
      // After the caller's send: setImmediate runs once the current message has left.
      if (!making) {
        making = true;
        setImmediate(() => void makeNext());
      }
    },
  };
}
