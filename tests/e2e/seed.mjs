// A help desk with realistic data, shared by the tests that look at every screen (screenshots,
// accessibility): conversations with replies, an internal note and labels, all answered by the agent
// Lucía; a supervisor (Marcos), two groups, an invited administrator (Pilar), channels, mail in the
// outbox and an audit trail.
import { Desk } from './desk.mjs';

export async function seedDesk(server, browser) {
  const desk = await new Desk(server, browser).open();
  const api = desk.api;
  const agent = await desk.staff({ first: 'Lucía', email: 'lucia@example.com', roles: ['agent'], capacity: 6 });
  // Conversations: customers write; Lucía answers, notes and labels.
  const seeded = [
    ['Alba Ruiz', ['Hola, ¿tenéis la chaqueta azul en talla M?', '¿Y cuánto tarda el envío a Valencia?'], 'Sí, nos quedan dos. El envío tarda 48 horas.', 'Cliente habitual: ofrecer envío gratis.', ['ventas', 'vip']],
    ['Bruno Gil', ['Mi pedido 10472 no ha llegado todavía.'], 'Lo reviso ahora mismo con el transportista.', 'Transportista avisado, esperar respuesta.', ['envíos']],
    ['Carmen Vidal', ['Quiero cambiar la dirección de entrega.'], null, null, ['pedido']],
    ['David Moreno', ['¿Hacéis factura a empresas?'], 'Claro, pásame el CIF y la razón social.', null, []],
  ];
  for (const [who, texts, reply, note, labels] of seeded) {
    let conversation;
    for (const text of texts) conversation = await desk.customer(who, text);
    if (reply) await agent.api('POST', `/conversations/${conversation.id}/messages`, { text: reply });
    if (note) await agent.api('POST', `/conversations/${conversation.id}/messages`, { text: note, private: true });
    for (const label of labels) await agent.api('POST', `/conversations/${conversation.id}/labels`, { label });
  }
  await agent.page.locator('.conv-item', { hasText: 'David Moreno' }).waitFor();
  // The rest of the team (after the conversations, which all went to Lucía).
  const other = await desk.staff({ first: 'Marcos', email: 'marcos@example.com', roles: ['agent', 'supervisor'] });
  await api('POST', '/groups', { name: 'Ventas', members: [agent.user.id, other.user.id] });
  await api('POST', '/groups', { name: 'Soporte técnico', members: [other.user.id] });
  await api('POST', '/users', { first_name: 'Pilar', last_name: 'Serrano', email: 'pilar@example.com', roles: ['admin'], language: 'es' });
  return { desk, agent, other };
}
