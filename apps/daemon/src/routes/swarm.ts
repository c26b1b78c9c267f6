import type { FastifyInstance, FastifyReply } from 'fastify';

// Berth has no swarm mode. A standalone dockerd still serves these routes, answering 503
// "not a swarm manager"; clients depend on that exact shape: docker-py's network tests tear
// down with POST /swarm/leave and only ignore a 503, and `docker info`/`docker node ls` print
// the message. A 404 would read as "old daemon" to them.
const NOT_A_MANAGER =
  'This node is not a swarm manager. Use "docker swarm init" or "docker swarm join" to connect this node to swarm and try again.';
const NOT_IN_SWARM = 'This node is not part of a swarm';
const NO_SWARM_MODE = 'Berth does not support swarm mode';

const MANAGER_ONLY = ['swarm', 'swarm/unlockkey', 'services', 'nodes', 'tasks', 'secrets', 'configs'];
const OBJECTS = ['services', 'nodes', 'tasks', 'secrets', 'configs'];

export function swarmRoutes(app: FastifyInstance): void {
  const answer = (message: string) => async (_request: unknown, reply: FastifyReply) =>
    reply.code(503).type('application/json').send({ message });

  for (const path of MANAGER_ONLY) app.get(`/${path}`, answer(NOT_A_MANAGER));
  for (const kind of OBJECTS) {
    app.get(`/${kind}/:id`, answer(NOT_A_MANAGER));
    app.delete(`/${kind}/:id`, answer(NOT_A_MANAGER));
    app.post(`/${kind}/:id/update`, answer(NOT_A_MANAGER));
    if (kind !== 'nodes' && kind !== 'tasks') app.post(`/${kind}/create`, answer(NOT_A_MANAGER));
  }
  app.get('/services/:id/logs', answer(NOT_A_MANAGER));
  app.get('/tasks/:id/logs', answer(NOT_A_MANAGER));
  app.post('/swarm/unlock', answer(NOT_A_MANAGER));
  app.post('/swarm/update', answer(NOT_A_MANAGER));
  app.post('/swarm/leave', answer(NOT_IN_SWARM));
  // dockerd would start a swarm here; Berth cannot, and says so instead of "page not found".
  app.post('/swarm/init', answer(NO_SWARM_MODE));
  app.post('/swarm/join', answer(NO_SWARM_MODE));
}
