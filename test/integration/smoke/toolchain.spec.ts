import 'reflect-metadata';
import { Controller, Get, Injectable, Module } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import pg from 'pg';
import { clusterUrl } from '../../support/database.js';

@Injectable()
class Greeter {
  hi() {
    return 'hi';
  }
}
@Controller()
class C {
  constructor(private readonly g: Greeter) {}
  @Get('x') x() {
    return { v: this.g.hi() };
  }
}
@Module({ controllers: [C], providers: [Greeter] })
class M {}

it('runs nest and pg', async () => {
  const app = await NestFactory.create(M, { logger: false });
  await app.listen(0);
  const res = await fetch(`${await app.getUrl()}/x`);
  expect(await res.json()).toEqual({ v: 'hi' });
  await app.close();
  const c = new pg.Client({ connectionString: clusterUrl() });
  await c.connect();
  const r = await c.query('select version()');
  expect(r.rows[0].version).toMatch(/PostgreSQL/);
  await c.end();
  expect(process.version).toMatch(/^v24/);
});
