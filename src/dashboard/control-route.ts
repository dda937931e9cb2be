import type { IncomingMessage, ServerResponse } from 'node:http';
import { CONTROL_ACTIONS, isControlAction, LINK_ACTIONS, type ReplicaControls } from './controls.js';
import type { ClusterFeed } from './feed.js';
import { reply } from './http-reply.js';

/**
 * POST /api/replicas/ID/ACTION: kill -9, pause, resume or restart one replica `ecom up` started,
 * or cut and heal its Raft links.
 *
 * Refused unless the request comes from the dashboard's own page: a browser sends `Origin`
 * with every POST, and another site's page would carry its own. The body is never read.
 */
export async function handleControl(req: IncomingMessage, res: ServerResponse, path: string, controls: ReplicaControls | undefined, refusal: string | undefined, feed: ClusterFeed): Promise<void> {
  req.resume();
  const origin = req.headers.origin;
  if (origin === undefined || origin !== `http://${req.headers.host}`) {
    return reply(res, 403, { error: `refused: controls answer only the dashboard's own page (Origin ${origin ?? 'missing'} is not http://${req.headers.host})` });
  }
  if (controls === undefined) return reply(res, 403, { error: `refused: ${refusal ?? 'no controls'}` });
  const match = /^\/api\/replicas\/([^/]+)\/([^/]+)$/.exec(path);
  const [idText, action] = [match?.[1] ?? '', match?.[2] ?? ''];
  const id = /^\d{1,6}$/.test(idText) ? Number(idText) : NaN;
  if (!controls.replicas.includes(id)) {
    return reply(res, 404, { error: `no replica "${idText}" here: the replicas "ecom up" started are ${controls.replicas.join(', ')}` });
  }
  if (!isControlAction(action)) return reply(res, 404, { error: `no action "${action}": choose ${CONTROL_ACTIONS.join(', ')}` });
  if (LINK_ACTIONS.includes(action) && controls.linksRefusal !== undefined) return reply(res, 403, { error: `refused: ${controls.linksRefusal}` });
  try {
    const done = await controls.act(id, action);
    const event = feed.record({ kind: 'control', replica: id, partition: feed.topology.replicas.find((r) => r.id === id)?.partition, text: `you: ${done}` });
    reply(res, 200, { ok: true, text: done, event });
  } catch (err) {
    reply(res, 409, { error: (err as Error).message });
  }
}
