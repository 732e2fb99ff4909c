import { TenantConnectionsExhausted } from '../../../../src/domain/tenant/tenant.errors.js';
import { ConnectionBudget } from '../../../../src/infrastructure/tenancy/connection-budget.js';

describe('ConnectionBudget', () => {
  it('given the budget in use, when one is released, then the oldest waiter gets it', async () => {
    const budget = new ConnectionBudget(2, 10_000);
    await budget.acquire();
    await budget.acquire();
    const order: string[] = [];
    const first = budget.acquire().then(() => order.push('first'));
    const second = budget.acquire().then(() => order.push('second'));
    expect(budget.waiting).toBe(2);
    budget.release();
    await first;
    budget.release();
    await second;
    expect(order).toEqual(['first', 'second']);
    expect(budget.used).toBe(2);
    expect(budget.peak).toBe(2);
  });

  it('given no permit frees in time, then the waiter gets a 503 error with Retry-After', async () => {
    const budget = new ConnectionBudget(1, 30);
    await budget.acquire();
    await expect(budget.acquire()).rejects.toBeInstanceOf(TenantConnectionsExhausted);
    expect(budget.waiting).toBe(0);
    budget.release();
    expect(budget.used).toBe(0);
  });
});
